//go:build e2e

package e2e

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/hack/dev/procs"
	"github.com/baton-dev/baton/internal/certs"
	"github.com/baton-dev/baton/internal/identity"
	"github.com/baton-dev/baton/internal/testenv"
	"github.com/baton-dev/baton/test/e2e/framework"
)

// rtEnv is the red team's target: production-like, one approval required,
// direct delivery. A forgery that got through would move its Deployment.
const rtEnv = "rt-production"

// The webhook configurations `make dev` installs (config/default's names).
const (
	rtMutating   = "baton-mutating-webhook-configuration"
	rtValidating = "baton-validating-webhook-configuration"
)

// redTeam is what a case starts from: mallory's client, and what the suite
// harvested before the cases ran.
type redTeam struct {
	mallory client.Client
	// harvested is a Promotion carrying a marker the webhook signed for a
	// caller presenting the API server's own client certificate, as
	// anything could on a cluster whose API server presents none.
	harvested   *batonv1alpha1.Promotion
	harvestedAt time.Time
}

var _ = Describe("red team: admission", Ordered, func() {
	rt := &redTeam{}

	BeforeAll(func() {
		newEnvironment(rtEnv, func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) { s.Approval.Required = 1 })
		rt.mallory = clientAs("mallory")
		rt.harvested, rt.harvestedAt = harvestMarker()
	})

	DescribeTable("a caller that is not the API server gets no answer from the webhook port",
		func(client func() *certs.KeyPair, why string) {
			out, err := postAdmissionReview(client(), forgedCreate("rt-tls", "alice"))
			Expect(err).To(HaveOccurred(), "the webhook answered %s: %s", why, out)
			Expect(out).To(BeEmpty())
			expectUntouched("rt-tls")
		},
		Entry("1. a hand-made AdmissionReview without a client certificate", func() *certs.KeyPair { return nil }, "no certificate"),
		Entry("2. a client certificate from mallory's own CA, under the API server's name", func() *certs.KeyPair {
			ca, err := certs.NewCA("mallory-ca", time.Hour)
			Expect(err).NotTo(HaveOccurred())
			c, err := certs.NewClientCert(ca, "kube-apiserver-webhook-client", time.Hour)
			Expect(err).NotTo(HaveOccurred())
			return &c
		}, "a foreign CA"),
		Entry("3. a client certificate from the cluster's serving CA, not the webhook client CA", func() *certs.KeyPair {
			ca := certs.KeyPair{Cert: readPKI("ca.crt"), Key: readPKI("ca.key")}
			c, err := certs.NewClientCert(ca, "kube-apiserver-webhook-client", time.Hour)
			Expect(err).NotTo(HaveOccurred())
			return &c
		}, "the serving CA"),
		Entry("4. kube-apiserver's serving certificate, presented as a client certificate", func() *certs.KeyPair {
			return &certs.KeyPair{Cert: readPKI("apiserver.crt"), Key: readPKI("apiserver.key")}
		}, "a server certificate"),
	)

	DescribeTable("a forgery that gets in while the webhook is bypassed is NotAdmitted; the workload is untouched",
		func(forge func(rt *redTeam) (name, message string)) {
			name, message := forge(rt)
			expectNotAdmitted(name, message)
		},
		Entry("5. mallory creates a Promotion with a made-up marker while the configurations are deleted", func(rt *redTeam) (string, string) {
			p := promotion("rt-made-up", rtEnv, image110, "forged")
			p.Spec.RequestedBy = &batonv1alpha1.UserInfo{Username: "alice"}
			p.Spec.Approvals = []batonv1alpha1.Approval{{UserInfo: batonv1alpha1.UserInfo{Username: "bob"}, Image: image110, ApprovedAt: metav1.Now()}}
			p.Annotations = map[string]string{batonv1alpha1.AdmissionMarkerAnnotation: fmt.Sprintf("v2:create:%d:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", time.Now().Unix())}
			grant(rt, promotionRights("create"))
			withoutWebhooks(func() { Expect(rt.mallory.Create(suiteCtx, p)).To(Succeed()) })
			return p.Name, "does not match the Promotion"
		}),
		Entry("6. mallory copies a real Promotion's marker onto her own", func(rt *redTeam) (string, string) {
			Expect(alice.Create(suiteCtx, promotion("rt-original", rtEnv, image110, "real"))).To(Succeed())
			original := waitPhase("rt-original", batonv1alpha1.PromotionWaitingForApproval, time.Minute)
			p := promotion("rt-copied", rtEnv, image110, "real")
			p.Spec.RequestedBy = original.Spec.RequestedBy
			p.Annotations = map[string]string{batonv1alpha1.AdmissionMarkerAnnotation: original.Annotations[batonv1alpha1.AdmissionMarkerAnnotation]}
			grant(rt, promotionRights("create"))
			withoutWebhooks(func() { Expect(rt.mallory.Create(suiteCtx, p)).To(Succeed()) })
			return p.Name, "does not match the Promotion"
		}),
		Entry("7. an approved Promotion deleted and re-created with its approval and marker (a replayed approval)", func(rt *redTeam) (string, string) {
			Expect(alice.Create(suiteCtx, promotion("rt-replayed", rtEnv, image110, "real"))).To(Succeed())
			waitPhase("rt-replayed", batonv1alpha1.PromotionWaitingForApproval, time.Minute)
			// Canceled before bob's approval could ship it: approvals on a
			// canceled Promotion are still recorded and sealed.
			Expect(alice.Patch(suiteCtx, &batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rt-replayed"}},
				client.RawPatch(types.MergePatchType, []byte(`{"spec":{"cancel":true}}`)))).To(Succeed())
			waitPhase("rt-replayed", batonv1alpha1.PromotionCanceled, time.Minute)
			Expect(approve(bob, "rt-replayed")).To(Succeed())
			var sealed *batonv1alpha1.Promotion
			Eventually(func(g Gomega) {
				sealed = getPromotion(g, "rt-replayed")
				g.Expect(sealed.Spec.Approvals).To(HaveLen(1))
			}).Should(Succeed())
			Expect(admin.Delete(suiteCtx, sealed)).To(Succeed())
			Eventually(func() bool {
				return apierrors.IsNotFound(admin.Get(suiteCtx, client.ObjectKeyFromObject(sealed), &batonv1alpha1.Promotion{}))
			}).
				WithTimeout(30 * time.Second).Should(BeTrue())
			replay := promotion("rt-replayed", rtEnv, image110, "real")
			// Exactly what was sealed: only the UID differs.
			replay.Spec = sealed.Spec
			replay.Annotations = sealed.Annotations
			grant(rt, promotionRights("create"))
			withoutWebhooks(func() { Expect(rt.mallory.Create(suiteCtx, replay)).To(Succeed()) })
			return replay.Name, "does not match the Promotion"
		}),
		Entry("8. mallory writes bob's approval and a matching-looking marker into her Promotion with the webhook deleted", func(rt *redTeam) (string, string) {
			grant(rt, promotionRights("create", "update", "patch"), envVerb("promote"))
			Expect(rt.mallory.Create(suiteCtx, promotion("rt-self-approved", rtEnv, image110, "mine"))).To(Succeed())
			waitPhase("rt-self-approved", batonv1alpha1.PromotionWaitingForApproval, time.Minute)
			withoutWebhooks(func() {
				Expect(rt.mallory.Patch(suiteCtx, &batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rt-self-approved"}},
					client.RawPatch(types.JSONPatchType, []byte(`[{"op":"add","path":"/spec/approvals","value":[{"username":"bob","image":"`+image110+`","approvedAt":"2026-12-01T00:00:00Z"}]}]`)))).To(Succeed())
			})
			return "rt-self-approved", "does not match the Promotion"
		}),
		Entry("9. a marker harvested from the webhook with the API server's certificate, used after the window", func(rt *redTeam) (string, string) {
			// The marker was signed in BeforeAll; wait out what is left of
			// the window rather than the whole of it.
			if left := identity.CreateWindow + 2*time.Second - time.Since(rt.harvestedAt); left > 0 {
				time.Sleep(left)
			}
			grant(rt, promotionRights("create"))
			p := rt.harvested.DeepCopy()
			withoutWebhooks(func() { Expect(rt.mallory.Create(suiteCtx, p)).To(Succeed()) })
			return p.Name, "was not issued when this Promotion was created"
		}),
	)

	DescribeTable("mallory, with the rights the attack needs, is refused by the webhook, naming the field; nothing changes",
		func(attack func(rt *redTeam) (name string, err error), parts ...string) {
			name, err := attack(rt)
			Expect(err).To(HaveOccurred(), "the request was admitted")
			Expect(apierrors.IsForbidden(err)).To(BeTrue(), "want Forbidden, got %v", err)
			for _, p := range parts {
				Expect(err.Error()).To(ContainSubstring(p))
			}
			expectUntouched(name)
		},
		Entry("10. setting the admission marker on create", func(rt *redTeam) (string, error) {
			grant(rt, promotionRights("create"), envVerb("promote"))
			p := promotion("rt-set-marker", rtEnv, image110, "mine")
			p.Annotations = map[string]string{batonv1alpha1.AdmissionMarkerAnnotation: "v2:create:1:AAAA"}
			return p.Name, rt.mallory.Create(suiteCtx, p)
		}, "metadata.annotations["+batonv1alpha1.AdmissionMarkerAnnotation+"]", "written only by Baton's admission webhook"),
		Entry("11. changing the marker of alice's Promotion", func(rt *redTeam) (string, error) {
			name := alicesPromotion("rt-edit-marker")
			grant(rt, promotionRights("patch"))
			return name, mergePatch(rt.mallory, name, `{"metadata":{"annotations":{"`+batonv1alpha1.AdmissionMarkerAnnotation+`":"v2:update:1:AAAA"}}}`)
		}, "metadata.annotations["+batonv1alpha1.AdmissionMarkerAnnotation+"]", "cannot be set or changed by a client"),
		Entry("12. flipping the auto-promote-key annotation on alice's Promotion", func(rt *redTeam) (string, error) {
			name := alicesPromotion("rt-autopromote-key")
			grant(rt, promotionRights("patch"))
			return name, mergePatch(rt.mallory, name, `{"metadata":{"annotations":{"`+batonv1alpha1.AutoPromoteKeyAnnotation+`":"`+rtEnv+`/web"}}}`)
		}, "metadata.annotations["+batonv1alpha1.AutoPromoteKeyAnnotation+"]", "deliberate re-ship"),
		Entry("13. creating a Promotion that passes as autoPromote's", func(rt *redTeam) (string, error) {
			grant(rt, promotionRights("create"), envVerb("promote"))
			p := promotion("rt-fake-autopromote", rtEnv, image110, "autoPromote")
			p.Annotations = map[string]string{batonv1alpha1.AutoPromoteKeyAnnotation: rtEnv + "/web"}
			return p.Name, rt.mallory.Create(suiteCtx, p)
		}, "metadata.annotations["+batonv1alpha1.AutoPromoteKeyAnnotation+"]", "remove it from the manifest"),
		Entry("14. a dangling ownerReference on alice's Promotion, for the garbage collector to delete it", func(rt *redTeam) (string, error) {
			name := alicesPromotion("rt-owner")
			grant(rt, promotionRights("patch"))
			return name, mergePatch(rt.mallory, name, `{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"gone","uid":"00000000-0000-0000-0000-00000000dead"}]}}`)
		}, "metadata.ownerReferences", "garbage-collect"),
		Entry("15. removing the engine's finalizer from alice's Promotion in flight", func(rt *redTeam) (string, error) {
			name := alicesPromotion("rt-finalizer")
			grant(rt, promotionRights("patch"))
			return name, rt.mallory.Patch(suiteCtx, &batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}},
				client.RawPatch(types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/finalizers"}]`)))
		}, "metadata.finalizers["+batonv1alpha1.PromotionFinalizer+"]", "phase WaitingForApproval"),
		Entry("16. editing bob's stored approval into her own name", func(rt *redTeam) (string, error) {
			name := alicesPromotion("rt-edit-approval")
			Expect(alice.Patch(suiteCtx, &batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}},
				client.RawPatch(types.MergePatchType, []byte(`{"spec":{"cancel":true}}`)))).To(Succeed())
			waitPhase(name, batonv1alpha1.PromotionCanceled, time.Minute)
			Expect(approve(bob, name)).To(Succeed())
			grant(rt, promotionRights("patch"), envVerb("approve"))
			return name, rt.mallory.Patch(suiteCtx, &batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}},
				client.RawPatch(types.JSONPatchType, []byte(`[{"op":"replace","path":"/spec/approvals/0/username","value":"mallory"}]`)))
		}, "spec.approvals[0]", "cannot be edited or removed"),
		Entry("17. approving her own Promotion", func(rt *redTeam) (string, error) {
			grant(rt, promotionRights("create", "patch"), envVerb("promote"), envVerb("approve"))
			Expect(rt.mallory.Create(suiteCtx, promotion("rt-own", rtEnv, image110, "mine"))).To(Succeed())
			waitPhase("rt-own", batonv1alpha1.PromotionWaitingForApproval, time.Minute)
			return "rt-own", approve(rt.mallory, "rt-own")
		}, "mallory requested this Promotion and cannot approve it"),
		Entry("18. approving with patch on promotions but without the approve verb", func(rt *redTeam) (string, error) {
			name := alicesPromotion("rt-no-verb")
			grant(rt, promotionRights("patch"))
			return name, approve(rt.mallory, name)
		}, `"approve" verb on environments/`+rtEnv),
		Entry("19. kubectl --as bob, without impersonate rights", func(rt *redTeam) (string, error) {
			name := alicesPromotion("rt-as-bob")
			grant(rt, promotionRights("patch"))
			cfg := framework.RestConfig(GinkgoT(), dir, "mallory")
			cfg.Impersonate.UserName = "bob"
			// The admin's RESTMapper: discovery as the impersonated user
			// would fail before the request itself is refused.
			as, err := client.New(cfg, client.Options{Scheme: admin.Scheme(), Mapper: admin.RESTMapper()})
			Expect(err).NotTo(HaveOccurred())
			return name, approve(as, name)
		}, `User "mallory" cannot impersonate`),
		Entry("23. hiding alice's Promotion in flight from the engine with the finished label", func(rt *redTeam) (string, error) {
			name := alicesPromotion("rt-finished-label")
			grant(rt, promotionRights("patch"))
			return name, mergePatch(rt.mallory, name, `{"metadata":{"labels":{"`+batonv1alpha1.FinishedLabel+`":"`+rtEnv+`"}}}`)
		}, "metadata.labels["+batonv1alpha1.FinishedLabel+"]", "hide it from the engine"),
	)

	It("20. a forged requester and approval in the spec are replaced by who sent the request", func() {
		grant(rt, promotionRights("create"), envVerb("promote"))
		p := promotion("rt-forged-spec", rtEnv, image110, "mine")
		p.Spec.RequestedBy = &batonv1alpha1.UserInfo{Username: "alice"}
		p.Spec.Approvals = []batonv1alpha1.Approval{{UserInfo: batonv1alpha1.UserInfo{Username: "bob"}, Image: image110, ApprovedAt: metav1.Now()}}
		Expect(rt.mallory.Create(suiteCtx, p)).To(Succeed())
		got := waitPhase(p.Name, batonv1alpha1.PromotionWaitingForApproval, time.Minute)
		Expect(got.Spec.RequestedBy.Username).To(Equal("mallory"))
		Expect(got.Spec.Approvals).To(BeEmpty())
		expectUntouched(p.Name)
	})

	It("21. a finished Promotion has no finalizer, so a delete never waits for the manager", func() {
		name := alicesPromotion("rt-finished")
		Expect(alice.Patch(suiteCtx, &batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}},
			client.RawPatch(types.MergePatchType, []byte(`{"spec":{"cancel":true}}`)))).To(Succeed())
		waitPhase(name, batonv1alpha1.PromotionCanceled, time.Minute)
		Eventually(func(g Gomega) { g.Expect(getPromotion(g, name).Finalizers).To(BeEmpty()) }).Should(Succeed(), "the engine lets go once it is finished")
		grant(rt, promotionRights("delete"))
		Expect(rt.mallory.Delete(suiteCtx, &batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}})).To(Succeed())
		Expect(apierrors.IsNotFound(admin.Get(suiteCtx, client.ObjectKey{Namespace: ns, Name: name}, &batonv1alpha1.Promotion{}))).To(BeTrue(), "gone at once")
	})

	It("22. impersonate rights make mallory anyone: an approval made with --as bob records bob", func() {
		name := alicesPromotion("rt-impersonated")
		// What an admin grants by mistake: impersonating one user.
		grantClusterWide(rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"users"}, ResourceNames: []string{"bob"}, Verbs: []string{"impersonate"}})
		cfg := framework.RestConfig(GinkgoT(), dir, "mallory")
		cfg.Impersonate.UserName = "bob"
		cfg.Impersonate.Groups = []string{"baton-dev", "system:authenticated"}
		cfg.Impersonate.UID = ""
		as, err := client.New(cfg, client.Options{Scheme: admin.Scheme(), Mapper: admin.RESTMapper()})
		Expect(err).NotTo(HaveOccurred())
		// Group impersonation needs its own grant; without it the request
		// is refused, which shows the check is real.
		Expect(approve(as, name)).To(MatchError(ContainSubstring(`User "mallory" cannot impersonate`)))
		cfg.Impersonate.Groups = nil
		as, err = client.New(cfg, client.Options{Scheme: admin.Scheme(), Mapper: admin.RESTMapper()})
		Expect(err).NotTo(HaveOccurred())
		Expect(approve(as, name)).To(Succeed())
		done := waitPhase(name, batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Expect(done.Spec.Approvals).To(HaveLen(1))
		Expect(done.Spec.Approvals[0].Username).To(Equal("bob"), "the API server authenticated bob: Baton cannot tell")
	})
})

// clientAs is a client with user's kubeconfig from the dev cluster.
func clientAs(user string) client.Client {
	GinkgoHelper()
	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(batonv1alpha1.AddToScheme(scheme)).To(Succeed())
	c, err := client.New(framework.RestConfig(GinkgoT(), dir, user), client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	return c
}

func readPKI(name string) []byte {
	GinkgoHelper()
	data, err := os.ReadFile(filepath.Join(dir, "pki", name))
	Expect(err).NotTo(HaveOccurred())
	return data
}

// alicesPromotion has alice create a Promotion into rtEnv and waits until
// Baton has resolved it and holds it for an approval, its finalizer on.
func alicesPromotion(name string) string {
	GinkgoHelper()
	Expect(alice.Create(suiteCtx, promotion(name, rtEnv, image110, "the red team's target"))).To(Succeed())
	p := waitPhase(name, batonv1alpha1.PromotionWaitingForApproval, time.Minute)
	Expect(p.Finalizers).To(ContainElement(batonv1alpha1.PromotionFinalizer))
	return name
}

func mergePatch(c client.Client, name, body string) error {
	return c.Patch(suiteCtx, &batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}},
		client.RawPatch(types.MergePatchType, []byte(body)))
}

func promotionRights(verbs ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: []string{batonv1alpha1.GroupVersion.Group}, Resources: []string{"promotions"}, Verbs: append([]string{"get"}, verbs...)}
}

func envVerb(verb string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: []string{batonv1alpha1.GroupVersion.Group}, Resources: []string{"environments"}, ResourceNames: []string{rtEnv}, Verbs: []string{verb}}
}

// grant gives mallory exactly these rights in namespace web for the rest of
// the spec, as an admin would, and waits until RBAC answers with them.
func grant(_ *redTeam, rules ...rbacv1.PolicyRule) {
	GinkgoHelper()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "redteam-mallory"}, Rules: rules}
	bind(role, &rbacv1.RoleBinding{ObjectMeta: role.ObjectMeta, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name}}, ns, rules)
}

// grantClusterWide is grant for rights RBAC checks at the cluster scope,
// such as impersonation.
func grantClusterWide(rules ...rbacv1.PolicyRule) {
	GinkgoHelper()
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "redteam-mallory"}, Rules: rules}
	bind(role, &rbacv1.ClusterRoleBinding{ObjectMeta: role.ObjectMeta, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name}}, "", rules)
}

// bind creates role and its binding to mallory, removes both when the spec
// ends, and waits until a SubjectAccessReview allows the last rule's last
// verb.
func bind(role, binding client.Object, namespace string, rules []rbacv1.PolicyRule) {
	GinkgoHelper()
	mallory := []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "mallory"}}
	switch b := binding.(type) {
	case *rbacv1.RoleBinding:
		b.Subjects = mallory
	case *rbacv1.ClusterRoleBinding:
		b.Subjects = mallory
	}
	Expect(admin.Create(suiteCtx, role)).To(Succeed())
	Expect(admin.Create(suiteCtx, binding)).To(Succeed())
	DeferCleanup(func() {
		Expect(admin.Delete(suiteCtx, binding)).To(Succeed())
		Expect(admin.Delete(suiteCtx, role)).To(Succeed())
	})
	last := rules[len(rules)-1]
	attrs := &authorizationv1.ResourceAttributes{Namespace: namespace, Group: last.APIGroups[0], Resource: last.Resources[0], Verb: last.Verbs[len(last.Verbs)-1]}
	if len(last.ResourceNames) > 0 {
		attrs.Name = last.ResourceNames[0]
	}
	Eventually(func(g Gomega) {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: "mallory", ResourceAttributes: attrs}}
		g.Expect(admin.Create(suiteCtx, sar)).To(Succeed())
		g.Expect(sar.Status.Allowed).To(BeTrue())
	}).WithTimeout(10 * time.Second).Should(Succeed())
}

// expectUntouched checks that rtEnv's Deployment still runs image100 and no
// history entry names the Promotion.
func expectUntouched(promotion string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		expectDeployment(g, rtEnv, image100)
		e := getEnv(g, rtEnv)
		g.Expect(historyOf(e, promotion)).To(BeEmpty())
		g.Expect(e.Status.Current.Image).To(Equal(image100))
	}).Should(Succeed())
}

// expectNotAdmitted waits for the engine's verdict on the Promotion, then
// checks that it acted on nothing.
func expectNotAdmitted(name, message string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		p := getPromotion(g, name)
		g.Expect(hasReason(p, batonv1alpha1.NotAdmittedReason)).To(BeTrue(), "conditions: %s", conditionMessages(p))
		g.Expect(conditionMessages(p)).To(ContainSubstring(message))
	}).WithTimeout(time.Minute).WithPolling(250 * time.Millisecond).Should(Succeed())
	expectUntouched(name)
}

// withoutWebhooks deletes both webhook configurations, as an admin during an
// outage would, runs fn once the API server no longer calls the webhook, and
// restores them.
func withoutWebhooks(fn func()) {
	GinkgoHelper()
	mut := &admissionregistrationv1.MutatingWebhookConfiguration{}
	val := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	Expect(admin.Get(suiteCtx, types.NamespacedName{Name: rtMutating}, mut)).To(Succeed())
	Expect(admin.Get(suiteCtx, types.NamespacedName{Name: rtValidating}, val)).To(Succeed())
	Expect(admin.Delete(suiteCtx, mut)).To(Succeed())
	Expect(admin.Delete(suiteCtx, val)).To(Succeed())
	defer func() {
		mut.ObjectMeta = metav1.ObjectMeta{Name: rtMutating}
		val.ObjectMeta = metav1.ObjectMeta{Name: rtValidating}
		Expect(admin.Create(suiteCtx, mut)).To(Succeed())
		Expect(admin.Create(suiteCtx, val)).To(Succeed())
		Eventually(webhookProbe).WithTimeout(20 * time.Second).Should(MatchError(ContainSubstring("is written only by Baton's admission webhook")))
	}()
	Eventually(webhookProbe).WithTimeout(20 * time.Second).Should(Succeed())
	fn()
}

// webhookProbe is a dry-run create the webhook always refuses (a client may
// not set the marker): it succeeds only while the webhook is not called.
func webhookProbe() error {
	p := promotion("rt-probe", rtEnv, image110, "probe")
	p.Annotations = map[string]string{batonv1alpha1.AdmissionMarkerAnnotation: "v2:create:1:AAAA"}
	return admin.Create(suiteCtx, p, client.DryRunAll)
}

// forgedCreate is the AdmissionReview an attacker posts: a CREATE of
// Promotion name into rtEnv, claiming to be user.
func forgedCreate(name, user string) []byte {
	GinkgoHelper()
	obj, err := json.Marshal(promotion(name, rtEnv, image110, "harvested"))
	Expect(err).NotTo(HaveOccurred())
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID: "00000000-0000-0000-0000-000000000001", Operation: admissionv1.Create,
			Namespace: ns, Name: name,
			Kind:     metav1.GroupVersionKind{Group: batonv1alpha1.GroupVersion.Group, Version: "v1alpha1", Kind: "Promotion"},
			Resource: metav1.GroupVersionResource{Group: batonv1alpha1.GroupVersion.Group, Version: "v1alpha1", Resource: "promotions"},
			UserInfo: authenticationv1.UserInfo{Username: user, Groups: []string{"baton-dev", "system:authenticated"}},
			Object:   runtime.RawExtension{Raw: obj},
		},
	}
	body, err := json.Marshal(review)
	Expect(err).NotTo(HaveOccurred())
	return body
}

// postAdmissionReview posts body to the manager's mutating webhook,
// presenting client (none when nil), and returns the answer.
func postAdmissionReview(client *certs.KeyPair, body []byte) (string, error) {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(readPKI("ca.crt"))
	url := fmt.Sprintf("https://127.0.0.1:%d%s", procs.Ports(base).Port(procs.Webhook), identity.MutatePath)
	return testenv.PostAdmissionReview(url, roots, client, body)
}

// harvestMarker does what anything that reaches the webhook could do on a
// cluster whose API server presents no client certificate: it has the
// webhook sign a Promotion "requested by alice", with the API server's own
// certificate standing in for the missing authentication.
func harvestMarker() (*batonv1alpha1.Promotion, time.Time) {
	GinkgoHelper()
	body := forgedCreate("rt-harvested", "alice")
	at := time.Now()
	out, err := postAdmissionReview(&certs.KeyPair{Cert: readPKI("webhook-client.crt"), Key: readPKI("webhook-client.key")}, body)
	Expect(err).NotTo(HaveOccurred())
	review := admissionv1.AdmissionReview{}
	Expect(json.Unmarshal([]byte(out), &review)).To(Succeed())
	Expect(review.Response).NotTo(BeNil())
	Expect(review.Response.Allowed).To(BeTrue(), "%s", out)
	patch, err := jsonpatch.DecodePatch(review.Response.Patch)
	Expect(err).NotTo(HaveOccurred())
	req := admissionv1.AdmissionReview{}
	Expect(json.Unmarshal(body, &req)).To(Succeed())
	signed, err := patch.Apply(req.Request.Object.Raw)
	Expect(err).NotTo(HaveOccurred())
	p := &batonv1alpha1.Promotion{}
	Expect(json.Unmarshal(signed, p)).To(Succeed())
	Expect(p.Annotations).To(HaveKey(batonv1alpha1.AdmissionMarkerAnnotation))
	Expect(p.Spec.RequestedBy.Username).To(Equal("alice"), "the webhook took the claimed user")
	return p, at
}
