//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testing/builder"
	"github.com/baton-dev/baton/test/e2e/framework"
)

// The red team, against the engine (issue 18, classes 2, 3, 4, 5 and 9):
// mallory, who has no role of her own, is granted by admin exactly the right
// each attack starts from, and loses it after. Each spec asserts the refusal
// (a condition reason) and that the workload is untouched.
var _ = Describe("red team: engine", func() {
	var mallory client.Client
	BeforeEach(func() {
		c, err := client.New(framework.RestConfig(GinkgoT(), dir, "mallory"), client.Options{Scheme: admin.Scheme()})
		Expect(err).NotTo(HaveOccurred())
		mallory = c
	})

	Context("class 2: drift is never verified", func() {
		It("records a hand-set image on staging as External and never verifies it", func() {
			newEnvironment("rt-d1-staging", nil)
			grantMallory("rt-d1", workloadNS("rt-d1-staging"), rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "patch"}})
			setImageAs(mallory, "rt-d1-staging", image120)
			expectDriftNotVerified("rt-d1-staging", image120)
		})

		It("never lets autoPromote ship drift downstream, nor a Promotion that names it", func() {
			newEnvironment("rt-d2-staging", nil)
			newEnvironment("rt-d2-production", func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) {
				s.Upstream, s.AutoPromote = "rt-d2-staging", true
			})
			grantMallory("rt-d2", workloadNS("rt-d2-staging"), rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "patch"}})
			setImageAs(mallory, "rt-d2-staging", image120)
			expectDriftNotVerified("rt-d2-staging", image120)

			Expect(alice.Create(suiteCtx, promotion("rt-d2-named", "rt-d2-production", image120, "ship the drift"))).To(Succeed())
			Eventually(func(g Gomega) {
				p := getPromotion(g, "rt-d2-named")
				g.Expect(p.Status.Phase).To(Equal(batonv1alpha1.PromotionPending))
				g.Expect(hasReason(p, batonv1alpha1.UpstreamNotVerifiedReason)).To(BeTrue(), conditionMessages(p))
			}).WithTimeout(time.Minute).Should(Succeed())
			Consistently(func(g Gomega) {
				expectDeployment(g, "rt-d2-production", image100)
				list := &batonv1alpha1.PromotionList{}
				g.Expect(carol.List(suiteCtx, list, client.InNamespace(ns))).To(Succeed())
				for _, p := range list.Items {
					if p.Spec.Environment == "rt-d2-production" {
						g.Expect(p.Name).To(Equal("rt-d2-named"), "autoPromote created nothing")
					}
				}
			}).WithTimeout(5 * time.Second).WithPolling(time.Second).Should(Succeed())
		})

		It("records drift made while a Promotion holds the lease", func() {
			newEnvironment("rt-d3-staging", nil)
			grantMallory("rt-d3", workloadNS("rt-d3-staging"), rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "patch"}})
			Expect(alice.Create(suiteCtx, promotion("rt-d3-broken", "rt-d3-staging", imageBroke, "holds the lease"))).To(Succeed())
			waitPhase("rt-d3-broken", batonv1alpha1.PromotionRollingOut, time.Minute)
			setImageAs(mallory, "rt-d3-staging", image120)
			Eventually(func(g Gomega) {
				e := getEnv(g, "rt-d3-staging")
				g.Expect(e.Status.ActivePromotion).NotTo(BeNil(), "still leased while the drift is recorded")
				g.Expect(e.Status.History).To(ContainElement(SatisfyAll(HaveField("Image", image120), HaveField("Result", batonv1alpha1.RevisionExternal))))
			}).WithTimeout(time.Minute).Should(Succeed())
			expectDriftNotVerified("rt-d3-staging", image120)
		})
	})

	Context("class 3: the automatic rollback adopts only its own", func() {
		// squatAndFail: alice ships a broken image into an autoRollback
		// Environment where mallory created <name>-rollback first; Baton
		// rolls back with another Promotion and production returns to
		// image100.
		squatAndFail := func(env, name string, squat *batonv1alpha1.Promotion, rule rbacv1.PolicyRule) {
			GinkgoHelper()
			newEnvironment(env, func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) { s.Rollout.AutoRollback = true })
			grantMallory(env, ns, rbacv1.PolicyRule{APIGroups: []string{batonv1alpha1.GroupVersion.Group}, Resources: []string{"promotions"}, Verbs: []string{"create", "get"}}, rule)
			Eventually(func() error { return mallory.Create(suiteCtx, squat) }).WithTimeout(30 * time.Second).Should(Succeed())
			Expect(alice.Create(suiteCtx, promotion(name, env, imageBroke, "will not start"))).To(Succeed())
			failed := waitPhase(name, batonv1alpha1.PromotionFailed, 2*time.Minute)
			Expect(failed.Status.AutoRollback).NotTo(BeNil())
			Expect(failed.Status.AutoRollback.Name).NotTo(Equal(squat.Name))
			Expect(failed.Status.AutoRollback.Name).To(HavePrefix(squat.Name + "-"))
			Expect(conditionMessages(failed)).To(ContainSubstring(failed.Status.AutoRollback.Name))
			back := waitPhase(failed.Status.AutoRollback.Name, batonv1alpha1.PromotionSucceeded, 2*time.Minute)
			Expect(back.Status.Image).To(Equal(image100))
			Eventually(func(g Gomega) {
				expectDeployment(g, env, image100)
				e := getEnv(g, env)
				g.Expect(e.Status.ActivePromotion).To(BeNil())
				g.Expect(historyOf(e, back.Name)).To(ConsistOf(HaveField("Result", batonv1alpha1.RevisionSucceeded)))
			}).WithTimeout(time.Minute).Should(Succeed())
			got := getPromotion(Default, squat.Name)
			Expect(got.Spec.RequestedBy.Username).To(Equal("mallory"))
		}

		It("does not adopt a squatted rollback identical to its own but for the requester", func() {
			squat := builder.Promotion(ns, "rt-s1-broken-rollback").Environment("rt-s1").Rollback(1).Reason("mine").Build()
			squatAndFail("rt-s1", "rt-s1-broken", squat, verbOn("rt-s1", "rollback"))
		})

		It("does not adopt a squatted rollback to another revision", func() {
			squat := builder.Promotion(ns, "rt-s5-broken-rollback").Environment("rt-s5").Rollback(7).Reason("mine").Build()
			squatAndFail("rt-s5", "rt-s5-broken", squat, verbOn("rt-s5", "rollback"))
		})

		It("does not adopt a squatted forward Promotion, and releases the lease", func() {
			squat := promotion("rt-s2-broken-rollback", "rt-s2", image100, "mine")
			squatAndFail("rt-s2", "rt-s2-broken", squat, verbOn("rt-s2", "promote"))
		})

		It("never hands production's lease to a squatted Promotion into another Environment", func() {
			newEnvironment("rt-s3-sandbox", nil)
			squat := builder.Promotion(ns, "rt-s3-broken-rollback").Environment("rt-s3-sandbox").Rollback(1).Reason("mine").Build()
			squatAndFail("rt-s3", "rt-s3-broken", squat, verbOn("rt-s3-sandbox", "rollback"))
			Expect(historyOf(getEnv(Default, "rt-s3"), squat.Name)).To(BeEmpty())
		})

		It("rolls back a Promotion whose name is too long for <name>-rollback", func() {
			newEnvironment("rt-s4", func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) { s.Rollout.AutoRollback = true })
			name := "rt-s4-" + strings.Repeat("x", 240)
			Expect(alice.Create(suiteCtx, promotion(name, "rt-s4", imageBroke, "long name"))).To(Succeed())
			failed := waitPhase(name, batonv1alpha1.PromotionFailed, 2*time.Minute)
			Expect(failed.Status.AutoRollback).NotTo(BeNil())
			Expect(len(failed.Status.AutoRollback.Name)).To(BeNumerically("<=", 253))
			waitPhase(failed.Status.AutoRollback.Name, batonv1alpha1.PromotionSucceeded, 2*time.Minute)
			Eventually(func(g Gomega) { expectDeployment(g, "rt-s4", image100) }).WithTimeout(time.Minute).Should(Succeed())
		})
	})

	Context("class 4: checked again at the lease and before delivery", func() {
		// approvalRequired: production requires bob's approval; alice's
		// Promotion of image110 waits for it.
		approvalRequired := func(env string) {
			GinkgoHelper()
			newEnvironment(env+"-staging", nil)
			newEnvironment(env, func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) {
				s.Upstream, s.Approval.Required = env+"-staging", 1
			})
			Expect(alice.Create(suiteCtx, promotion(env+"-staging-110", env+"-staging", image110, "build"))).To(Succeed())
			waitPhase(env+"-staging-110", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
			Eventually(func(g Gomega) {
				g.Expect(getEnv(g, env+"-staging").Status.VerifiedImages).To(ContainElement(HaveField("Image", image110)))
			}).WithTimeout(time.Minute).Should(Succeed())
			Expect(alice.Create(suiteCtx, promotion(env+"-110", env, image110, "release"))).To(Succeed())
			waitPhase(env+"-110", batonv1alpha1.PromotionWaitingForApproval, time.Minute)
			grantMallory(env, ns, rbacv1.PolicyRule{APIGroups: []string{batonv1alpha1.GroupVersion.Group}, Resources: []string{"promotions", "promotions/status"}, Verbs: []string{"get", "patch"}})
		}

		It("sends a status written to Queued, without approvals, back to WaitingForApproval", func() {
			approvalRequired("rt-q1")
			writeStatusAs(mallory, "rt-q1-110", `{"status":{"phase":"Queued"}}`)
			expectBackToWaiting("rt-q1-110", "rt-q1", image100)
		})

		It("sends a status written to Promoting back through the gate", func() {
			approvalRequired("rt-q2")
			writeStatusAs(mallory, "rt-q2-110", `{"status":{"phase":"Promoting"}}`)
			expectBackToWaiting("rt-q2-110", "rt-q2", image100)
		})

		It("fails a status written to Queued with another image than spec.image", func() {
			approvalRequired("rt-q3")
			writeStatusAs(mallory, "rt-q3-110", fmt.Sprintf(`{"status":{"phase":"Queued","image":%q}}`, image120))
			expectFailedUntouched("rt-q3-110", "rt-q3", batonv1alpha1.ImageMismatchReason, image100)
		})

		It("fails a status written to Queued with an image the upstream never verified", func() {
			approvalRequired("rt-q4")
			Expect(alice.Create(suiteCtx, builder.Promotion(ns, "rt-q4-newest").Environment("rt-q4").Reason("newest").Build())).To(Succeed())
			waitPhase("rt-q4-newest", batonv1alpha1.PromotionWaitingForApproval, time.Minute)
			writeStatusAs(mallory, "rt-q4-newest", fmt.Sprintf(`{"status":{"phase":"Queued","image":%q}}`, image120))
			expectFailedUntouched("rt-q4-newest", "rt-q4", batonv1alpha1.UpstreamNotVerifiedReason, image100)
		})

		It("sends a queued Promotion back to WaitingForApproval when the policy is raised", func() {
			approvalRequired("rt-q5")
			patchEnv("rt-q5", `{"spec":{"suspend":true}}`)
			Expect(approve(bob, "rt-q5-110")).To(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(hasReason(getPromotion(g, "rt-q5-110"), batonv1alpha1.SuspendedReason)).To(BeTrue())
			}).WithTimeout(time.Minute).Should(Succeed())
			patchEnv("rt-q5", `{"spec":{"approval":{"required":2}}}`)
			patchEnv("rt-q5", `{"spec":{"suspend":false}}`)
			Eventually(func(g Gomega) {
				p := getPromotion(g, "rt-q5-110")
				g.Expect(p.Status.Phase).To(Equal(batonv1alpha1.PromotionWaitingForApproval))
				g.Expect(conditionMessages(p)).To(ContainSubstring("1 of 2"))
			}).WithTimeout(time.Minute).Should(Succeed())
			Consistently(func(g Gomega) { expectDeployment(g, "rt-q5", image100) }).WithTimeout(5 * time.Second).Should(Succeed())
		})

		It("fails a queued Promotion whose Environment was deleted and created again", func() {
			approvalRequired("rt-q6")
			patchEnv("rt-q6", `{"spec":{"suspend":true}}`)
			Expect(approve(bob, "rt-q6-110")).To(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(hasReason(getPromotion(g, "rt-q6-110"), batonv1alpha1.SuspendedReason)).To(BeTrue())
			}).WithTimeout(time.Minute).Should(Succeed())
			old := getEnv(Default, "rt-q6")
			Expect(admin.Delete(suiteCtx, old)).To(Succeed())
			Eventually(func() bool {
				return apierrors.IsNotFound(admin.Get(suiteCtx, client.ObjectKeyFromObject(old), &batonv1alpha1.Environment{}))
			}).WithTimeout(30 * time.Second).Should(BeTrue())
			again := &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rt-q6"}, Spec: old.Spec}
			again.Spec.Suspend, again.Spec.Approval.Required = false, 0
			Expect(admin.Create(suiteCtx, again)).To(Succeed())
			expectFailedUntouched("rt-q6-110", "rt-q6", batonv1alpha1.EnvironmentReplacedReason, image100)
		})
	})

	Context("class 5: a rollback that re-ships says why", func() {
		It("refuses oncall's rollback to the adopted revision without a reason, and records one with a reason as a re-ship", func() {
			newEnvironment("rt-r1", nil)
			Expect(alice.Create(suiteCtx, promotion("rt-r1-110", "rt-r1", image110, "release"))).To(Succeed())
			waitPhase("rt-r1-110", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
			Expect(oncall.Create(suiteCtx, builder.Promotion(ns, "rt-r1-undo").Environment("rt-r1").Rollback(1).Build())).To(Succeed())
			expectFailedUntouched("rt-r1-undo", "rt-r1", batonv1alpha1.ImageRejectedReason, image110)
			Expect(conditionMessages(getPromotion(Default, "rt-r1-undo"))).To(ContainSubstring("spec.reason"))

			Expect(oncall.Create(suiteCtx, builder.Promotion(ns, "rt-r1-undo-why").Environment("rt-r1").Rollback(1).Reason("checkout errors").Build())).To(Succeed())
			back := waitPhase("rt-r1-undo-why", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
			Eventually(func(g Gomega) {
				expectDeployment(g, "rt-r1", image100)
				r := revision(g, getEnv(g, "rt-r1"), back.Status.Revision)
				g.Expect(r.Rollback).To(BeTrue())
				g.Expect(r.Reship).To(BeTrue())
			}).WithTimeout(time.Minute).Should(Succeed())
		})

		It("does not ship, nor unreject, an image rolled back away from while its Promotion waited for approval", func() {
			newEnvironment("rt-r2", func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) { s.Approval.Required = 1 })
			for _, p := range []struct{ name, image string }{{"rt-r2-110", image110}, {"rt-r2-120", image120}} {
				Expect(alice.Create(suiteCtx, promotion(p.name, "rt-r2", p.image, ""))).To(Succeed())
				waitPhase(p.name, batonv1alpha1.PromotionWaitingForApproval, time.Minute)
				Expect(approve(bob, p.name)).To(Succeed())
				waitPhase(p.name, batonv1alpha1.PromotionSucceeded, 2*time.Minute)
			}
			Expect(alice.Create(suiteCtx, promotion("rt-r2-120-again", "rt-r2", image120, ""))).To(Succeed())
			waitPhase("rt-r2-120-again", batonv1alpha1.PromotionWaitingForApproval, time.Minute)
			Expect(oncall.Create(suiteCtx, builder.Promotion(ns, "rt-r2-undo").Environment("rt-r2").Rollback(2).Reason("errors").Build())).To(Succeed())
			waitPhase("rt-r2-undo", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
			Expect(approve(bob, "rt-r2-120-again")).To(Succeed())
			expectFailedUntouched("rt-r2-120-again", "rt-r2", batonv1alpha1.ImageRejectedReason, image110)
			Expect(getEnv(Default, "rt-r2").Status.RejectedImages).To(ContainElement(HaveField("Image", image120)), "the rejection stays")
		})
	})

	Context("class 9: a lease whose holder is gone", func() {
		It("never blocks the Environment when the lease holder is deleted and its finalizer removed: its entry is closed and the queue goes on", func() {
			newEnvironment("rt-l1", nil)
			grantMallory("rt-l1", ns, rbacv1.PolicyRule{APIGroups: []string{batonv1alpha1.GroupVersion.Group}, Resources: []string{"promotions"}, Verbs: []string{"get", "patch", "delete"}})
			Expect(alice.Create(suiteCtx, promotion("rt-l1-broken", "rt-l1", imageBroke, "holds the lease"))).To(Succeed())
			waitPhase("rt-l1-broken", batonv1alpha1.PromotionRollingOut, time.Minute)
			Expect(alice.Create(suiteCtx, promotion("rt-l1-next", "rt-l1", image110, "next"))).To(Succeed())
			waitPhase("rt-l1-next", batonv1alpha1.PromotionQueued, time.Minute)
			// mallory deletes it; then admin removes Baton's finalizer (the
			// webhook refuses that to mallory: the admission red team's
			// case 15). Whether the Promotion reconciler closes the entry
			// first or never sees it again, the lease must be released with
			// a history entry.
			holder := &batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rt-l1-broken"}}
			Eventually(func() error { return mallory.Delete(suiteCtx, holder) }).WithTimeout(30 * time.Second).Should(Succeed())
			Expect(client.IgnoreNotFound(admin.Patch(suiteCtx, holder, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))))).To(Succeed())
			Eventually(func(g Gomega) {
				e := getEnv(g, "rt-l1")
				g.Expect(historyOf(e, "rt-l1-broken")).To(ConsistOf(SatisfyAll(
					HaveField("Result", batonv1alpha1.RevisionFailed), HaveField("Message", Or(ContainSubstring("no longer exists"), ContainSubstring("was deleted"))))))
			}).WithTimeout(time.Minute).Should(Succeed())
			waitPhase("rt-l1-next", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		})
	})
})

// grantMallory gives mallory, as admin, exactly rules in namespace, waits
// until RBAC answers with them, and takes them back after the spec.
func grantMallory(name, namespace string, rules ...rbacv1.PolicyRule) {
	GinkgoHelper()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "redteam-" + name, Namespace: namespace}, Rules: rules}
	bind(role, &rbacv1.RoleBinding{ObjectMeta: role.ObjectMeta, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name}}, namespace, rules)
}

// verbOn is Baton's custom verb on one Environment.
func verbOn(env, verb string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: []string{batonv1alpha1.GroupVersion.Group}, Resources: []string{"environments"}, ResourceNames: []string{env}, Verbs: []string{verb}}
}

// setImageAs sets the web container's image as c would with kubectl set image.
func setImageAs(c client.Client, env, image string) {
	GinkgoHelper()
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: workloadNS(env), Name: "web"}}
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":%q}]}}}}`, image)
	Eventually(func() error {
		return c.Patch(suiteCtx, d, client.RawPatch(types.StrategicMergePatchType, []byte(patch)))
	}).WithTimeout(30 * time.Second).Should(Succeed())
}

// expectDriftNotVerified waits until env has recorded image as External and
// said, after its rollout completed, that it is not verified; then checks
// that it never becomes verified.
func expectDriftNotVerified(env, image string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		e := getEnv(g, env)
		g.Expect(e.Status.History).To(ContainElement(SatisfyAll(HaveField("Image", image), HaveField("Result", batonv1alpha1.RevisionExternal))))
		v := apimeta.FindStatusCondition(e.Status.Conditions, batonv1alpha1.VerifiedCondition)
		g.Expect(v).NotTo(BeNil())
		g.Expect(v.Reason).To(Equal(batonv1alpha1.NotDeliveredReason), v.Message)
		g.Expect(v.Message).To(ContainSubstring(image))
	}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
	Consistently(func(g Gomega) {
		g.Expect(getEnv(g, env).Status.VerifiedImages).NotTo(ContainElement(HaveField("Image", image)))
	}).WithTimeout(5 * time.Second).WithPolling(time.Second).Should(Succeed())
}

// writeStatusAs merge-patches a Promotion's status subresource as c.
func writeStatusAs(c client.Client, name, patch string) {
	GinkgoHelper()
	p := &batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	Eventually(func() error {
		return c.Status().Patch(suiteCtx, p, client.RawPatch(types.MergePatchType, []byte(patch)))
	}).WithTimeout(30 * time.Second).Should(Succeed())
}

// expectBackToWaiting: Baton sent the Promotion back to WaitingForApproval
// (a decision written after the forged status), and env still runs image.
func expectBackToWaiting(name, env, image string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		p := getPromotion(g, name)
		g.Expect(p.Status.Phase).To(Equal(batonv1alpha1.PromotionWaitingForApproval))
		g.Expect(p.Status.Revision).To(BeZero())
		g.Expect(getEnv(g, env).Status.ActivePromotion).To(BeNil())
	}).WithTimeout(time.Minute).Should(Succeed())
	Consistently(func(g Gomega) {
		expectDeployment(g, env, image)
		g.Expect(getPromotion(g, name).Status.Phase).To(Equal(batonv1alpha1.PromotionWaitingForApproval))
	}).WithTimeout(5 * time.Second).WithPolling(time.Second).Should(Succeed())
}

// expectFailedUntouched: the Promotion failed with reason, took no revision,
// and env still runs image.
func expectFailedUntouched(name, env, reason, image string) {
	GinkgoHelper()
	p := waitPhase(name, batonv1alpha1.PromotionFailed, time.Minute)
	Expect(hasReason(p, reason)).To(BeTrue(), conditionMessages(p))
	Eventually(func(g Gomega) {
		expectDeployment(g, env, image)
		e := getEnv(g, env)
		g.Expect(historyOf(e, name)).To(BeEmpty())
	}).WithTimeout(30 * time.Second).Should(Succeed())
}

func patchEnv(name, patch string) {
	GinkgoHelper()
	Expect(admin.Patch(suiteCtx, &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}},
		client.RawPatch(types.MergePatchType, []byte(patch)))).To(Succeed())
}
