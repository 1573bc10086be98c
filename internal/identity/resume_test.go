package identity_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/identity"
)

// resumeCmd is what kubectl promote resume sends, with a forged resumedBy
// that the webhook must replace.
const resumeCmd = `{"spec":{"resume":true,"resumedBy":{"username":"bob"}}}`

// In this suite admin stands for Baton's manager (metadata_test.go).
var _ = Describe("Resume after a failure (spec.resume)", func() {
	var ns string
	// failed is a Promotion by alice as the engine leaves it once it
	// failed: phase Failed, labelled finished, out of the manager's caches.
	failed := func(ctx context.Context, name string) *batonv1alpha1.Promotion {
		GinkgoHelper()
		Expect(users["alice"].Create(ctx, aliceManifest(ns, name))).To(Succeed())
		Expect(admin.Status().Patch(ctx, get(ctx, ns, name), client.RawPatch(types.MergePatchType,
			[]byte(`{"status":{"phase":"Failed","image":"`+image+`"}}`)))).To(Succeed())
		Expect(admin.Patch(ctx, get(ctx, ns, name), client.RawPatch(types.MergePatchType,
			[]byte(`{"metadata":{"labels":{"`+batonv1alpha1.FinishedLabel+`":"`+batonv1alpha1.FinishedLabelValue(envName)+`"}}}`)))).To(Succeed())
		return get(ctx, ns, name)
	}
	resume := func(ctx context.Context, user, name, body string) error {
		return users[user].Patch(ctx, get(ctx, ns, name), client.RawPatch(types.MergePatchType, []byte(body)))
	}
	BeforeEach(func(ctx context.Context) {
		ns = newNamespace(ctx)
		newEnvironment(ctx, ns, 0)
	})

	It("stamps resumedBy from the request, whatever the client sent, sealed, and drops the finished label", func(ctx context.Context) {
		failed(ctx, "broke")
		Expect(resume(ctx, "frieda", "broke", resumeCmd)).To(Succeed())
		p := get(ctx, ns, "broke")
		Expect(p.Spec.Resume).To(BeTrue())
		Expect(p.Spec.ResumedBy).NotTo(BeNil())
		Expect(p.Spec.ResumedBy.Username).To(Equal("frieda"), "the forged resumedBy is overwritten")
		Expect(p.Spec.RequestedBy.Username).To(Equal("alice"), "resuming keeps who requested it")
		Expect(p.Labels).NotTo(HaveKey(batonv1alpha1.FinishedLabel), "the manager must see it again")
		Expect(identity.Verify(p, key(ctx))).To(Succeed())

		tampered := p.DeepCopy()
		tampered.Spec.ResumedBy.Username = "bob"
		Expect(identity.Verify(tampered, key(ctx))).To(MatchError(identity.ErrMarkerMismatch))

		// Once set, neither who resumed nor the resume itself changes: the
		// webhook keeps the stored resumedBy over the client's.
		Expect(resume(ctx, "bob", "broke", `{"spec":{"resumedBy":{"username":"bob"}}}`)).To(Succeed())
		Expect(get(ctx, ns, "broke").Spec.ResumedBy.Username).To(Equal("frieda"))
		err := resume(ctx, "bob", "broke", `{"spec":{"resume":false}}`)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("resume may only change from false to true"))
		Expect(get(ctx, ns, "broke").Spec.ResumedBy.Username).To(Equal("frieda"))

		// The manager labels it finished again.
		Expect(admin.Patch(ctx, p, client.RawPatch(types.MergePatchType,
			[]byte(`{"metadata":{"labels":{"`+batonv1alpha1.FinishedLabel+`":"`+batonv1alpha1.FinishedLabelValue(envName)+`"}}}`)))).To(Succeed())
	})

	It("lets an approver resume too", func(ctx context.Context) {
		failed(ctx, "broke")
		Expect(resume(ctx, "bob", "broke", resumeCmd)).To(Succeed())
		Expect(get(ctx, ns, "broke").Spec.ResumedBy.Username).To(Equal("bob"))
	})

	// live is a Promotion by alice the engine has not finished.
	live := func(ctx context.Context, name string) *batonv1alpha1.Promotion {
		GinkgoHelper()
		Expect(users["alice"].Create(ctx, aliceManifest(ns, name))).To(Succeed())
		return get(ctx, ns, name)
	}
	DescribeTable("refuses bad input, naming the verb or the field; the Promotion is unchanged",
		func(ctx context.Context, setup func(context.Context, string) *batonv1alpha1.Promotion, user, body string, says ...string) {
			before := setup(ctx, "broke")
			expectDenied(resume(ctx, user, "broke", body), says...)
			after := get(ctx, ns, "broke")
			Expect(after.ResourceVersion).To(Equal(before.ResourceVersion))
			Expect(after.Spec.Resume).To(BeFalse())
			Expect(after.Labels).To(Equal(before.Labels))
		},
		Entry("alice, a promoter, without the verb resume", failed, "alice", resumeCmd,
			`user "alice" may not resume autoPromote in Environment "production"`, `the "resume" verb on environments/production`),
		Entry("alice dropping the finished label herself", failed, "alice",
			`{"metadata":{"labels":{"`+batonv1alpha1.FinishedLabel+`":null}}}`,
			"metadata.labels["+batonv1alpha1.FinishedLabel+"]"),
		Entry("a resume of a Promotion that has not finished", live, "frieda", resumeCmd,
			"spec.resume", "only a finished Promotion", "kubectl promote resume production"),
	)

	It("refuses a new Promotion that carries spec.resume, naming the field", func(ctx context.Context) {
		p := aliceManifest(ns, "born-resumed")
		p.Spec.Resume = true
		expectDenied(users["alice"].Create(ctx, p), "spec.resume", "cannot be set on a new Promotion")
		expectNoPromotion(ctx, ns, "born-resumed")
	})
})
