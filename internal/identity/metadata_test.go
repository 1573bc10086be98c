package identity_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/identity"
)

// In this suite the manager, whose webhook runs in the test process,
// authenticates as the envtest admin: admin stands for Baton here, and
// alice, with patch on promotions, for the attacker.
var _ = Describe("Metadata the engine trusts", Serial, func() {
	var ns string
	// inFlight is a Promotion as the engine leaves it after its first
	// reconciles: the finalizer added, the phase RollingOut.
	inFlight := func(ctx context.Context, name string) *batonv1alpha1.Promotion {
		GinkgoHelper()
		Expect(users["alice"].Create(ctx, aliceManifest(ns, name))).To(Succeed())
		Expect(admin.Patch(ctx, get(ctx, ns, name), client.RawPatch(types.MergePatchType,
			[]byte(`{"metadata":{"finalizers":["`+batonv1alpha1.PromotionFinalizer+`"]}}`)))).To(Succeed())
		Expect(admin.Status().Patch(ctx, get(ctx, ns, name), client.RawPatch(types.MergePatchType,
			[]byte(`{"status":{"phase":"RollingOut","image":"`+image+`"}}`)))).To(Succeed())
		return get(ctx, ns, name)
	}
	patch := func(ctx context.Context, user, name string, pt types.PatchType, body string) error {
		return users[user].Patch(ctx, get(ctx, ns, name), client.RawPatch(pt, []byte(body)))
	}
	BeforeEach(func(ctx context.Context) {
		ns = newNamespace(ctx)
		newEnvironment(ctx, ns, 1)
	})

	DescribeTable("alice, who may patch Promotions, is refused, naming the field; the Promotion is unchanged",
		func(ctx context.Context, pt types.PatchType, body string, parts ...string) {
			before := inFlight(ctx, "p")
			expectDenied(patch(ctx, "alice", "p", pt, body), parts...)
			after := get(ctx, ns, "p")
			Expect(after.ResourceVersion).To(Equal(before.ResourceVersion))
			Expect(identity.Verify(after, key(ctx))).To(Succeed())
		},
		Entry("removing the engine's finalizer from a Promotion RollingOut", types.JSONPatchType,
			`[{"op":"remove","path":"/metadata/finalizers"}]`,
			"metadata.finalizers["+batonv1alpha1.PromotionFinalizer+"]", "phase RollingOut"),
		Entry("adding a dangling ownerReference for the garbage collector", types.MergePatchType,
			`{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"gone","uid":"00000000-0000-0000-0000-00000000dead"}]}}`,
			"metadata.ownerReferences", "garbage-collect"),
		Entry("adding the auto-promote-key", types.MergePatchType,
			`{"metadata":{"annotations":{"`+batonv1alpha1.AutoPromoteKeyAnnotation+`":"production/web"}}}`,
			"metadata.annotations["+batonv1alpha1.AutoPromoteKeyAnnotation+"]", "deliberate re-ship"),
		Entry("adding a source-commit annotation", types.MergePatchType,
			`{"metadata":{"annotations":{"`+batonv1alpha1.SourceCommitAnnotation+`":"0123abc"}}}`,
			"metadata.annotations["+batonv1alpha1.SourceCommitAnnotation+"]"),
	)

	DescribeTable("alice cannot create a Promotion with Baton's metadata",
		func(ctx context.Context, mutate func(p *batonv1alpha1.Promotion), parts ...string) {
			p := aliceManifest(ns, "p")
			mutate(p)
			expectDenied(users["alice"].Create(ctx, p), parts...)
		},
		Entry("the auto-promote-key, to pass as autoPromote's", func(p *batonv1alpha1.Promotion) {
			p.Annotations = map[string]string{batonv1alpha1.AutoPromoteKeyAnnotation: "production/web"}
		}, "metadata.annotations["+batonv1alpha1.AutoPromoteKeyAnnotation+"]", "remove it from the manifest"),
		Entry("an ownerReference", func(p *batonv1alpha1.Promotion) {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "x", UID: "00000000-0000-0000-0000-00000000dead"}}
		}, "metadata.ownerReferences", "cannot be owned"),
	)

	It("lets the manager remove its finalizer, and anyone once the Promotion is finished, even with the webhook down", func(ctx context.Context) {
		inFlight(ctx, "p")
		inFlight(ctx, "q")
		Expect(patch(ctx, "alice", "p", types.MergePatchType, `{"metadata":{"labels":{"team":"shop"}}}`)).To(Succeed())
		Expect(admin.Patch(ctx, get(ctx, ns, "p"), client.RawPatch(types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/finalizers"}]`)))).To(Succeed())
		Expect(admin.Status().Patch(ctx, get(ctx, ns, "q"), client.RawPatch(types.MergePatchType, []byte(`{"status":{"phase":"Succeeded"}}`)))).To(Succeed())
		withDeadWebhooks(ctx, ns, func() {
			// Removing it from a Promotion in flight needs the webhook, and
			// fails closed...
			err := patch(ctx, "alice", "q", types.MergePatchType, `{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"gone","uid":"00000000-0000-0000-0000-00000000dead"}]}}`)
			Expect(err).To(MatchError(ContainSubstring("failed calling webhook")))
			// ...labels and the finalizer of a finished one do not.
			Expect(patch(ctx, "alice", "q", types.MergePatchType, `{"metadata":{"labels":{"team":"shop"}}}`)).To(Succeed())
			Expect(patch(ctx, "alice", "q", types.JSONPatchType, `[{"op":"remove","path":"/metadata/finalizers"}]`)).To(Succeed())
		})
		Expect(get(ctx, ns, "p").Finalizers).To(BeEmpty())
		Expect(get(ctx, ns, "q").Finalizers).To(BeEmpty())
		Expect(get(ctx, ns, "q").Labels).To(HaveKeyWithValue("team", "shop"))
	})
})
