//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// The guardrails in time through kubectl promote, as the dev cluster's
// users: oncall holds baton-freezer and baton-breakglass in web
// (config/dev/app/users.yaml), alice is a promoter.
var _ = Describe("Guardrails in time", func() {
	It("G1. oncall freezes production; alice's override is refused, then ships once granted and is on the record; a rollback runs through the freeze", func() {
		newEnvironment("g1-staging", nil)
		newEnvironment("g1-production", func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) { s.Upstream = "g1-staging" })
		Expect(alice.Create(suiteCtx, promotion("g1-staging-110", "g1-staging", image110, "new checkout"))).To(Succeed())
		waitPhase("g1-staging-110", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Eventually(func(g Gomega) {
			g.Expect(getEnv(g, "g1-staging").Status.VerifiedImages).To(ContainElement(HaveField("Image", image110)))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())

		// oncall stops the line.
		out, _, err := plugin("oncall", "freeze", "g1-production", "--reason", "INC-4711: payments are down")
		Expect(err).NotTo(HaveOccurred())
		freezeName := strings.TrimSpace(out)
		f := &batonv1alpha1.Freeze{}
		Expect(admin.Get(suiteCtx, client.ObjectKey{Namespace: ns, Name: freezeName}, f)).To(Succeed())
		Expect(f.Spec.FrozenBy.Username).To(Equal("oncall"))
		Expect(f.Annotations).To(HaveKey(batonv1alpha1.FreezeMarkerAnnotation))

		// alice's Promotion waits, and says why.
		out, _, err = plugin("alice", "g1-production", "--reason", "ship the new checkout")
		Expect(err).NotTo(HaveOccurred())
		waiting := strings.TrimSpace(out)
		Eventually(func(g Gomega) {
			p := getPromotion(g, waiting)
			g.Expect(p.Status.Phase).To(Equal(batonv1alpha1.PromotionQueued))
			g.Expect(hasReason(p, batonv1alpha1.FrozenReason)).To(BeTrue(), conditionMessages(p))
			g.Expect(conditionMessages(p)).To(ContainSubstring("(by oncall): INC-4711: payments are down"))
		}).WithTimeout(time.Minute).Should(Succeed())
		status, _, err := plugin("alice", "status", "g1-production")
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(ContainSubstring("Freeze " + ns + "/" + freezeName))

		// alice may promote, but not override: refused by the webhook, and
		// nothing is created or moved.
		_, stderr, err := plugin("alice", "g1-production", "--override", "I am in a hurry")
		Expect(err).To(HaveOccurred())
		Expect(stderr).To(ContainSubstring(`user "alice" may not override the deploy windows and freezes of Environment "g1-production"`))
		Expect(stderr).To(ContainSubstring(`the "override" verb on environments/g1-production`))
		Expect(promotionsInto("g1-production")).To(ConsistOf(waiting))
		Eventually(func(g Gomega) { expectDeployment(g, "g1-production", image100) }).Should(Succeed())

		// The platform team grants her baton-breakglass; her override ships.
		Expect(admin.Create(suiteCtx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "g1-alice-breakglass"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "baton-breakglass"},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "alice"}}})).To(Succeed())
		var hotfix string
		Eventually(func() error {
			out, _, err := plugin("alice", "g1-production", "--override", "INC-4711: the fix must ship")
			hotfix = strings.TrimSpace(out)
			return err
		}).WithTimeout(30 * time.Second).WithPolling(time.Second).Should(Succeed())
		done := waitPhase(hotfix, batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Expect(done.Spec.OverriddenBy.Username).To(Equal("alice"))
		Eventually(func(g Gomega) { expectDeployment(g, "g1-production", image110) }).WithTimeout(time.Minute).Should(Succeed())
		Eventually(func(g Gomega) {
			r := revision(g, getEnv(g, "g1-production"), done.Status.Revision)
			g.Expect(r.OverriddenBy).To(Equal("alice"))
			g.Expect(r.OverrideReason).To(Equal("INC-4711: the fix must ship"))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(eventsOf(g, hotfix, batonv1alpha1.OverriddenReason)).To(ContainElement(And(
				ContainSubstring("Break-glass override by alice"), ContainSubstring("INC-4711: the fix must ship"),
				ContainSubstring("frozen by Freeze "+ns+"/"+freezeName))))
		}).WithTimeout(30 * time.Second).Should(Succeed())

		// A rollback runs through the freeze (freeze.blockRollbacks is not set).
		out, _, err = plugin("oncall", "undo", "g1-production", "--reason", "the fix broke checkout")
		Expect(err).NotTo(HaveOccurred())
		waitPhase(strings.TrimSpace(out), batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Eventually(func(g Gomega) { expectDeployment(g, "g1-production", image100) }).WithTimeout(time.Minute).Should(Succeed())
		Expect(getPromotion(Default, waiting).Status.Phase).To(Equal(batonv1alpha1.PromotionQueued), "the freeze still holds alice's first Promotion")

		// oncall lifts it; the record stays. alice's first Promotion is
		// judged again: oncall rolled back away from its image.
		_, _, err = plugin("oncall", "unfreeze", "g1-production")
		Expect(err).NotTo(HaveOccurred())
		Expect(admin.Get(suiteCtx, client.ObjectKey{Namespace: ns, Name: freezeName}, f)).To(Succeed())
		Expect(f.Spec.Lifted).To(BeTrue())
		Expect(f.Spec.LiftedBy.Username).To(Equal("oncall"))
		failed := waitPhase(waiting, batonv1alpha1.PromotionFailed, time.Minute)
		Expect(hasReason(failed, batonv1alpha1.ImageRejectedReason)).To(BeTrue(), conditionMessages(failed))
	})
})

var _ = Describe("Pause after a failure", func() {
	It("G2. pauseOnFailure after an auto-rollback: the next autoPromote waits; alice may not resume, oncall does, and it ships", func() {
		// Staging runs no Pods, so it verifies the broken image, which then
		// fails first in production.
		newEnvironment("g2-staging", func(_ *batonv1alpha1.EnvironmentSpec, d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](0) })
		newEnvironment("g2-production", func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) {
			s.Upstream, s.AutoPromote, s.Rollout.AutoRollback, s.PauseOnFailure = "g2-staging", true, true, true
		})
		shipToStaging := func(name, image string) {
			GinkgoHelper()
			Expect(alice.Create(suiteCtx, promotion(name, "g2-staging", image, "new build"))).To(Succeed())
			waitPhase(name, batonv1alpha1.PromotionSucceeded, 2*time.Minute)
			Eventually(func(g Gomega) {
				g.Expect(getEnv(g, "g2-staging").Status.VerifiedImages).To(ContainElement(HaveField("Image", image)))
			}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		}
		autoPromotion := func(g Gomega, image string) string {
			var list batonv1alpha1.PromotionList
			g.Expect(carol.List(suiteCtx, &list, client.InNamespace(ns))).To(Succeed())
			var found []string
			for _, p := range list.Items {
				if p.Spec.Environment == "g2-production" && p.Spec.Image == image && p.Annotations[batonv1alpha1.AutoPromoteKeyAnnotation] != "" {
					found = append(found, p.Name)
				}
			}
			g.Expect(found).To(HaveLen(1), "autoPromote Promotions of %s into g2-production", image)
			return found[0]
		}

		// autoPromote ships the broken image; its rollout fails, Baton rolls
		// back, and the failure pauses autoPromote.
		shipToStaging("g2-staging-broken", imageBroke)
		var broken string
		Eventually(func(g Gomega) { broken = autoPromotion(g, imageBroke) }).WithTimeout(time.Minute).Should(Succeed())
		waitPhase(broken, batonv1alpha1.PromotionFailed, 2*time.Minute)
		waitPhase(broken+"-rollback", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Eventually(func(g Gomega) {
			pause := getEnv(g, "g2-production").Status.AutoPromotePause
			g.Expect(pause).NotTo(BeNil())
			g.Expect(pause.Promotion.Name).To(Equal(broken))
			g.Expect(pause.Result).To(Equal(batonv1alpha1.RevisionFailed))
			expectDeployment(g, "g2-production", image100)
		}).WithTimeout(time.Minute).Should(Succeed())

		// The next image autoPromote picks up waits, and says why.
		shipToStaging("g2-staging-110", image110)
		var next string
		Eventually(func(g Gomega) { next = autoPromotion(g, image110) }).WithTimeout(time.Minute).Should(Succeed())
		Eventually(func(g Gomega) {
			p := getPromotion(g, next)
			g.Expect(p.Status.Phase).To(Equal(batonv1alpha1.PromotionQueued))
			g.Expect(hasReason(p, batonv1alpha1.AutoPromotePausedReason)).To(BeTrue(), conditionMessages(p))
			g.Expect(conditionMessages(p)).To(ContainSubstring("Promotion " + broken + " failed (spec.pauseOnFailure)"))
			g.Expect(conditionMessages(p)).To(ContainSubstring("resume with kubectl promote resume g2-production"))
		}).WithTimeout(time.Minute).Should(Succeed())
		status, _, err := plugin("alice", "status", "g2-production")
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(MatchRegexp(`AutoPromote paused:\s+since \S+, Promotion ` + broken + ` Failed`))

		// alice, a promoter, may not resume: refused, naming the verb.
		_, stderr, err := plugin("alice", "resume", "g2-production")
		Expect(err).To(HaveOccurred())
		Expect(stderr).To(ContainSubstring(`user "alice" may not resume autoPromote in Environment "g2-production"`))
		Expect(stderr).To(ContainSubstring(`the "resume" verb on environments/g2-production`))
		// Nor by hand: a forged resumedBy does not help, and dropping the
		// finished label (to make Baton look again) is Baton's alone.
		forged := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"resume":true,"resumedBy":{"username":"oncall"}}}`))
		err = alice.Patch(suiteCtx, getPromotion(Default, broken), forged)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring(`the "resume" verb on environments/g2-production`))
		unlabel := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"`+batonv1alpha1.FinishedLabel+`":null}}}`))
		err = alice.Patch(suiteCtx, getPromotion(Default, broken), unlabel)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("metadata.labels[" + batonv1alpha1.FinishedLabel + "]"))
		Expect(getPromotion(Default, broken).Spec.Resume).To(BeFalse())
		Expect(getPromotion(Default, broken).IsFinishedLabelled()).To(BeTrue())
		Expect(getEnv(Default, "g2-production").Status.AutoPromotePause).NotTo(BeNil())

		// oncall (baton-freezer) resumes; the waiting trigger ships.
		out, _, err := plugin("oncall", "resume", "g2-production")
		resumed := time.Now()
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.TrimSpace(out)).To(Equal(broken))
		fast := func(f func(g Gomega)) {
			Eventually(f).WithTimeout(30 * time.Second).WithPolling(20 * time.Millisecond).Should(Succeed())
		}
		fast(func(g Gomega) { g.Expect(getEnv(g, "g2-production").Status.AutoPromotePause).To(BeNil()) })
		lifted := time.Since(resumed)
		fast(func(g Gomega) {
			g.Expect(getPromotion(g, next).Status.Phase).NotTo(Equal(batonv1alpha1.PromotionQueued))
		})
		fmt.Printf("MEASURED resume: kubectl promote resume returned -> pause lifted %s, -> waiting Promotion started %s\n",
			lifted.Round(10*time.Millisecond), time.Since(resumed).Round(10*time.Millisecond))
		waitPhase(next, batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Eventually(func(g Gomega) { expectDeployment(g, "g2-production", image110) }).WithTimeout(time.Minute).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(getEnv(g, "g2-production").Status.AutoPromotePause).To(BeNil())
			g.Expect(eventsOf(g, broken, batonv1alpha1.AutoPromoteResumedReason)).To(ContainElement(
				ContainSubstring("oncall resumed autoPromote and spec.source deploys in Environment g2-production")))
			resumed := getPromotion(g, broken)
			g.Expect(resumed.Spec.ResumedBy).NotTo(BeNil())
			g.Expect(resumed.Spec.ResumedBy.Username).To(Equal("oncall"))
			g.Expect(resumed.IsFinishedLabelled()).To(BeTrue(), "Baton let it go again")
		}).WithTimeout(30 * time.Second).Should(Succeed())
	})
})

// promotionsInto names the Promotions into env.
func promotionsInto(env string) []string {
	GinkgoHelper()
	var list batonv1alpha1.PromotionList
	Expect(admin.List(suiteCtx, &list, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, p := range list.Items {
		if p.Spec.Environment == env {
			out = append(out, p.Name)
		}
	}
	return out
}

// eventsOf are the messages of the Events about Promotion name with reason.
func eventsOf(g Gomega, name, reason string) []string {
	var list corev1.EventList
	g.Expect(admin.List(suiteCtx, &list, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		if e.InvolvedObject.Name == name && e.Reason == reason {
			out = append(out, e.Message)
		}
	}
	return out
}
