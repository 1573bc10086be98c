package identity_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/identity"
)

// guardrailNamespace binds the suite's roles, and baton-breakglass to olga.
func guardrailNamespace(ctx context.Context) string {
	GinkgoHelper()
	roles := map[string][]string{}
	for user, role := range userRoles {
		roles[user] = []string{role}
	}
	roles["olga"] = append(roles["olga"], "baton-breakglass")
	ns, err := testEnv.BindUsers(ctx, "guardrails-", roles)
	Expect(err).NotTo(HaveOccurred())
	waitWebhookActive(ctx, ns)
	return ns
}

func overrideManifest(ns, name, reason string) *batonv1alpha1.Promotion {
	p := aliceManifest(ns, name)
	p.Spec.Override = &batonv1alpha1.OverrideSpec{Reason: reason}
	// A client's claim, which the webhook must replace.
	p.Spec.OverriddenBy = &batonv1alpha1.UserInfo{Username: "bob"}
	return p
}

func freezeManifest(ns, name, env, reason string) *batonv1alpha1.Freeze {
	return &batonv1alpha1.Freeze{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: batonv1alpha1.FreezeSpec{Environment: env, Reason: reason, FrozenBy: &batonv1alpha1.UserInfo{Username: "bob"}}}
}

func expectNoPromotion(ctx context.Context, ns, name string) {
	GinkgoHelper()
	err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &batonv1alpha1.Promotion{})
	Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the refused Promotion exists: %v", err)
}

var _ = Describe("Break-glass override", func() {
	ctx := context.Background()
	var ns string
	BeforeEach(func() { ns = guardrailNamespace(ctx); newEnvironment(ctx, ns, 0) })

	It("stamps overriddenBy from the request, whatever the client sent, sealed with the marker", func() {
		Expect(users["olga"].Create(ctx, overrideManifest(ns, "hotfix", "checkout is down, INC-4711"))).To(Succeed())
		p := get(ctx, ns, "hotfix")
		Expect(p.Spec.OverriddenBy).NotTo(BeNil())
		Expect(p.Spec.OverriddenBy.Username).To(Equal("olga"))
		Expect(p.Spec.Override.Reason).To(Equal("checkout is down, INC-4711"))
		Expect(identity.Verify(p, key(ctx))).To(Succeed())

		// The sealed field cannot be rewritten behind the webhook.
		tampered := p.DeepCopy()
		tampered.Spec.OverriddenBy.Username = "bob"
		Expect(identity.Verify(tampered, key(ctx))).To(MatchError(identity.ErrMarkerMismatch))
		// Nor can an override be added to a Promotion later.
		alice := aliceManifest(ns, "plain")
		Expect(users["alice"].Create(ctx, alice)).To(Succeed())
		base := alice.DeepCopy()
		alice.Spec.Override = &batonv1alpha1.OverrideSpec{Reason: "later"}
		err := users["olga"].Patch(ctx, alice, client.MergeFrom(base))
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("override is immutable"))
		Expect(get(ctx, ns, "plain").Spec.OverriddenBy).To(BeNil())
	})

	DescribeTable("refuses, naming the field or the verb, and nothing is created",
		func(user, reason string, says ...string) {
			err := users[user].Create(ctx, overrideManifest(ns, "refused", reason))
			expectDenied(err, says...)
			expectNoPromotion(ctx, ns, "refused")
		},
		Entry("an override by a promoter without the verb", "alice", "I am in a hurry",
			`user "alice" may not override the deploy windows and freezes of Environment "production"`, `the "override" verb on environments/production`),
		Entry("an override without a reason", "olga", "", "spec.override.reason: is required"),
		Entry("an override with a blank reason", "olga", "   ", "spec.override.reason: is required"),
	)
})

var _ = Describe("Freezes", func() {
	ctx := context.Background()
	var ns string
	BeforeEach(func() { ns = guardrailNamespace(ctx) })

	It("records who froze and who lifted it, sealed, whatever the client sent", func() {
		f := freezeManifest(ns, "incident", "", "payments are down")
		Expect(users["frieda"].Create(ctx, f)).To(Succeed())
		Expect(admin.Get(ctx, client.ObjectKeyFromObject(f), f)).To(Succeed())
		Expect(f.Spec.FrozenBy.Username).To(Equal("frieda"))
		Expect(f.Spec.FrozenAt).NotTo(BeNil())
		seal := f.Annotations[batonv1alpha1.FreezeMarkerAnnotation]
		Expect(identity.VerifyFreeze("Freeze", ns, "incident", f.Spec, seal, key(ctx))).To(Succeed())

		base := f.DeepCopy()
		f.Spec.Lifted = true
		f.Spec.LiftedBy = &batonv1alpha1.UserInfo{Username: "bob"}
		Expect(users["frieda"].Patch(ctx, f, client.MergeFrom(base))).To(Succeed())
		Expect(admin.Get(ctx, client.ObjectKeyFromObject(f), f)).To(Succeed())
		Expect(f.Spec.LiftedBy.Username).To(Equal("frieda"))
		Expect(f.Spec.FrozenBy.Username).To(Equal("frieda"), "lifting keeps who froze it")
		Expect(identity.VerifyFreeze("Freeze", ns, "incident", f.Spec, f.Annotations[batonv1alpha1.FreezeMarkerAnnotation], key(ctx))).To(Succeed())

		// A lifted freeze stays lifted.
		base = f.DeepCopy()
		f.Spec.Lifted = false
		err := users["frieda"].Patch(ctx, f, client.MergeFrom(base))
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("lifted may only change from false to true"))
	})

	It("refuses a user who may create Freeze objects but lacks the verb freeze", func() {
		// mallory gets create on freezes by a Role of her own, not the verb.
		Expect(admin.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "freeze-objects"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{batonv1alpha1.GroupVersion.Group}, Resources: []string{"freezes"}, Verbs: []string{"create", "patch", "delete"}}}})).To(Succeed())
		Expect(admin.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mallory-freeze-objects"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "freeze-objects"},
			Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "mallory"}}})).To(Succeed())
		Eventually(func(g Gomega) {
			err := users["mallory"].Create(ctx, freezeManifest(ns, "grief", "production", "because"))
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring(`user "mallory" may not freeze or unfreeze: that needs the "freeze" verb on environments/production`))
		}).WithTimeout(10 * time.Second).Should(Succeed())
		// Nor may she lift frieda's freeze or delete it.
		f := freezeManifest(ns, "incident", "", "payments are down")
		Expect(users["frieda"].Create(ctx, f)).To(Succeed())
		base := f.DeepCopy()
		f.Spec.Lifted = true
		expectDenied(users["mallory"].Patch(ctx, f, client.MergeFrom(base)), `"freeze" verb on environments`)
		expectDenied(users["mallory"].Delete(ctx, f), `"freeze" verb on environments`)
		Expect(admin.Get(ctx, client.ObjectKeyFromObject(f), f)).To(Succeed())
		Expect(f.Spec.Lifted).To(BeFalse())
	})

	It("refuses a freeze without a reason, naming the field", func() {
		expectDenied(users["frieda"].Create(ctx, freezeManifest(ns, "no-reason", "", "")), "spec.reason: is required")
	})

	It("refuses a ClusterFreeze by a freezer bound in one namespace only", func() {
		err := users["frieda"].Create(ctx, &batonv1alpha1.ClusterFreeze{ObjectMeta: metav1.ObjectMeta{Name: "everything-" + ns},
			Spec: batonv1alpha1.FreezeSpec{Reason: "DR drill"}})
		// RBAC refuses it first: the role is bound in a namespace, and a
		// ClusterFreeze is cluster-scoped.
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "got %v", err)
	})
})

var _ = Describe("DeployWindow bad input", func() {
	ctx := context.Background()
	var ns string
	BeforeEach(func() { ns = guardrailNamespace(ctx) })
	hour := &metav1.Duration{Duration: time.Hour}
	DescribeTable("is refused, naming the field",
		func(spec batonv1alpha1.DeployWindowSpec, says ...string) {
			spec.Type = batonv1alpha1.WindowDeny
			err := admin.Create(ctx, &batonv1alpha1.DeployWindow{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad"}, Spec: spec})
			Expect(err).To(HaveOccurred(), "the window was admitted")
			for _, s := range says {
				Expect(err.Error()).To(ContainSubstring(s))
			}
		},
		Entry("a bad cron", batonv1alpha1.DeployWindowSpec{Schedule: "0 25 * * *", Duration: hour}, "spec.schedule", "cron"),
		Entry("a bad RRULE", batonv1alpha1.DeployWindowSpec{RRule: "FREQ=FORTNIGHTLY", Duration: hour}, "spec.rrule", "RRULE"),
		Entry("an unknown time zone", batonv1alpha1.DeployWindowSpec{Schedule: "0 18 * * 5", Duration: hour, TimeZone: "Europe/Atlantis"}, "spec.timeZone", "IANA"),
		Entry("a duration of 0", batonv1alpha1.DeployWindowSpec{Schedule: "0 18 * * 5", Duration: &metav1.Duration{}}, "spec.duration", "more than 0"),
		Entry("a duration over a year", batonv1alpha1.DeployWindowSpec{Schedule: "0 18 * * 5", Duration: &metav1.Duration{Duration: 8761 * time.Hour}}, "spec.duration", "8760h"),
		Entry("a schedule without a duration", batonv1alpha1.DeployWindowSpec{Schedule: "0 18 * * 5"}, "duration"),
		Entry("no schedule at all", batonv1alpha1.DeployWindowSpec{}, "schedule"),
		Entry("a start without an end", batonv1alpha1.DeployWindowSpec{Start: &metav1.Time{Time: time.Now()}}, "spec.end"),
	)
})
