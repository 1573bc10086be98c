package identity_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/identity"
)

// fixture is one row's world: a namespace with the users bound to their
// roles, and the production Environment.
type fixture struct {
	ns  string
	env *batonv1alpha1.Environment
}

// created has Alice create her manifest, and the admin resolve its image.
func (f fixture) created(ctx context.Context, name string) {
	GinkgoHelper()
	Expect(users["alice"].Create(ctx, aliceManifest(f.ns, name))).To(Succeed())
	resolve(ctx, f.ns, name)
}

var _ = Describe("The Promotion admission webhook", Serial, Ordered, func() {
	DescribeTable("who promoted, who approved",
		func(required int32, row func(ctx context.Context, f fixture)) {
			ctx := context.Background()
			ns := newNamespace(ctx)
			row(ctx, fixture{ns: ns, env: newEnvironment(ctx, ns, required)})
		},

		Entry("1. alice sends requestedBy: bob; alice is recorded", int32(1), func(ctx context.Context, f fixture) {
			forged := aliceManifest(f.ns, "p")
			forged.Spec.Approvals = []batonv1alpha1.Approval{{UserInfo: batonv1alpha1.UserInfo{Username: "bob"}, Image: image, ApprovedAt: metav1.Now()}}
			Expect(users["alice"].Create(ctx, forged)).To(Succeed())
			p := get(ctx, f.ns, "p")
			Expect(p.Spec.RequestedBy).NotTo(BeNil())
			Expect(p.Spec.RequestedBy.Username).To(Equal("alice"))
			Expect(p.Spec.RequestedBy.Groups).To(ContainElements("developers", "system:authenticated"))
			Expect(p.Spec.Approvals).To(BeEmpty(), "a client-sent approval survived creation")
			Expect(p.Spec.CanceledBy).To(BeNil())
			Expect(identity.Verify(p, key(ctx))).To(Succeed())
		}),

		Entry("2. alice appends an approval naming bob: recorded as alice, denied as self-approval", int32(1), func(ctx context.Context, f fixture) {
			f.created(ctx, "p")
			err := jsonPatch(ctx, "alice", f.ns, "p", `[{"op":"add","path":"/spec/approvals","value":[{"username":"bob","image":"`+image+`","approvedAt":"2020-01-01T00:00:00Z"}]}]`)
			expectDenied(err, "alice requested this Promotion and cannot approve it", "allowSelfApproval")
			Expect(get(ctx, f.ns, "p").Spec.Approvals).To(BeEmpty())
		}),

		Entry("3. bob approves; bob is recorded with the image; the gate opens", int32(1), func(ctx context.Context, f fixture) {
			Expect(users["alice"].Create(ctx, aliceManifest(f.ns, "p"))).To(Succeed())
			expectDenied(approve(ctx, "bob", f.ns, "p"), "status.image is empty", "retry")
			resolve(ctx, f.ns, "p")
			approved, have, need, _ := identity.ApprovalState(f.env, get(ctx, f.ns, "p"))
			Expect([]any{approved, have, need}).To(Equal([]any{false, 0, 1}))

			before := time.Now().Add(-time.Second).Truncate(time.Second)
			Expect(approve(ctx, "bob", f.ns, "p")).To(Succeed())
			p := get(ctx, f.ns, "p")
			Expect(p.Spec.Approvals).To(HaveLen(1))
			a := p.Spec.Approvals[0]
			Expect(a.Username).To(Equal("bob"))
			Expect(a.Groups).To(ContainElement("developers"))
			Expect(a.Image).To(Equal(image))
			Expect(a.ApprovedAt.Time).To(BeTemporally(">=", before))
			Expect(a.ApprovedAt.Time).To(BeTemporally("<=", time.Now().Add(time.Second)))
			Expect(identity.Verify(p, key(ctx))).To(Succeed())
			approved, have, need, msg := identity.ApprovalState(f.env, p)
			Expect([]any{approved, have, need}).To(Equal([]any{true, 1, 1}), msg)
		}),

		Entry("3b. bob approves a Promotion whose digest is frozen: the approval is bound to that digest", int32(1), func(ctx context.Context, f fixture) {
			const digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
			Expect(users["alice"].Create(ctx, aliceManifest(f.ns, "p"))).To(Succeed())
			resolveDigest(ctx, f.ns, "p", digest)
			// A digest bob sends himself is not his to choose: the webhook
			// records the approval from status.digest alone.
			Expect(jsonPatch(ctx, "bob", f.ns, "p", `[{"op":"add","path":"/spec/approvals","value":[{"image":"`+image+`","digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222"}]}]`)).To(Succeed())
			p := get(ctx, f.ns, "p")
			Expect(p.Spec.Approvals).To(HaveLen(1))
			Expect(p.Spec.Approvals[0].Image).To(Equal(image))
			Expect(p.Spec.Approvals[0].Digest).To(Equal(digest))
			approved, have, need, msg := identity.ApprovalState(f.env, p)
			Expect([]any{approved, have, need}).To(Equal([]any{true, 1, 1}), msg)
			// The same approval does not count for other bytes under the tag.
			p.Status.Digest = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
			approved, have, _, _ = identity.ApprovalState(f.env, p)
			Expect([]any{approved, have}).To(Equal([]any{false, 0}))
		}),

		Entry("4. mallory (a promoter, not an approver) approves: denied, naming approve", int32(1), func(ctx context.Context, f fixture) {
			f.created(ctx, "p")
			expectDenied(approve(ctx, "mallory", f.ns, "p"), `"mallory"`, `"approve" verb on environments/production`)
			Expect(get(ctx, f.ns, "p").Spec.Approvals).To(BeEmpty())
		}),

		Entry("5. carol (a viewer) creates: denied", int32(1), func(ctx context.Context, f fixture) {
			err := users["carol"].Create(ctx, aliceManifest(f.ns, "p"))
			expectDenied(err, `cannot create resource "promotions"`)
			Expect(apierrors.IsNotFound(admin.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "p"}, &batonv1alpha1.Promotion{}))).To(BeTrue())
		}),

		Entry("6. bob's second approval: denied", int32(2), func(ctx context.Context, f fixture) {
			f.created(ctx, "p")
			Expect(approve(ctx, "bob", f.ns, "p")).To(Succeed())
			expectDenied(jsonPatch(ctx, "bob", f.ns, "p", appendCmd), "bob already approved image "+image)
			p := get(ctx, f.ns, "p")
			Expect(usernames(p)).To(Equal([]string{"bob"}))
			approved, have, _, _ := identity.ApprovalState(f.env, p)
			Expect(approved).To(BeFalse())
			Expect(have).To(Equal(1))
		}),

		Entry("7. editing or removing an approval: denied", int32(1), func(ctx context.Context, f fixture) {
			f.created(ctx, "p")
			Expect(approve(ctx, "bob", f.ns, "p")).To(Succeed())
			Expect(jsonPatch(ctx, "dave", f.ns, "p", appendCmd)).To(Succeed())
			want := get(ctx, f.ns, "p").Spec.Approvals
			Expect(want).To(HaveLen(2))

			expectDenied(jsonPatch(ctx, "bob", f.ns, "p", `[{"op":"replace","path":"/spec/approvals/0/username","value":"eve"}]`),
				"spec.approvals[0]", "cannot be edited or removed")
			expectDenied(jsonPatch(ctx, "bob", f.ns, "p", `[{"op":"replace","path":"/spec/approvals/1/image","value":"registry.example.com/web:evil"}]`),
				"spec.approvals[1]", "cannot be edited or removed")
			expectDenied(jsonPatch(ctx, "bob", f.ns, "p", `[{"op":"remove","path":"/spec/approvals/0"}]`),
				"spec.approvals[0]", "cannot be edited or removed")
			expectDenied(jsonPatch(ctx, "bob", f.ns, "p", `[{"op":"remove","path":"/spec/approvals/1"}]`),
				"spec.approvals", "cannot be removed")
			// Dropping the whole list looks exactly like an apply that does
			// not mention it, so the webhook keeps the stored approvals.
			Expect(jsonPatch(ctx, "bob", f.ns, "p", `[{"op":"remove","path":"/spec/approvals"}]`)).To(Succeed())
			Expect(get(ctx, f.ns, "p").Spec.Approvals).To(Equal(want))
		}),

		Entry("8. alice re-applies her file (client-side and server-side apply): requestedBy and approvals unchanged", int32(1), func(ctx context.Context, f fixture) {
			// Client-side apply: kubectl creates, then re-applies with a
			// three-way merge patch of the file; a JSON merge patch of the
			// whole file is a superset of it.
			Expect(users["alice"].Create(ctx, aliceManifest(f.ns, "csa"))).To(Succeed())
			resolve(ctx, f.ns, "csa")
			Expect(approve(ctx, "bob", f.ns, "csa")).To(Succeed())
			want := get(ctx, f.ns, "csa").Spec
			p := &batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "csa"}}
			Expect(users["alice"].Patch(ctx, p, client.RawPatch(types.MergePatchType, toJSON(map[string]any{"spec": aliceManifest(f.ns, "csa").Spec})))).To(Succeed())
			got := get(ctx, f.ns, "csa")
			Expect(got.Spec.RequestedBy.Username).To(Equal("alice"))
			Expect(got.Spec.RequestedBy).To(Equal(want.RequestedBy))
			Expect(got.Spec.Approvals).To(Equal(want.Approvals))
			Expect(identity.Verify(got, key(ctx))).To(Succeed())

			// Server-side apply, with the same field manager each time, as
			// kubectl apply --server-side does.
			apply := func() error {
				u := &unstructured.Unstructured{}
				Expect(runtimeDefaultConverter(aliceManifest(f.ns, "ssa"), u)).To(Succeed())
				return users["alice"].Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("kubectl"))
			}
			Expect(apply()).To(Succeed(), "kubectl apply --server-side (create)")
			resolve(ctx, f.ns, "ssa")
			Expect(approve(ctx, "bob", f.ns, "ssa")).To(Succeed())
			want = get(ctx, f.ns, "ssa").Spec
			Expect(apply()).To(Succeed(), "kubectl apply --server-side (re-apply)")
			got = get(ctx, f.ns, "ssa")
			Expect(got.Spec.RequestedBy.Username).To(Equal("alice"))
			Expect(got.Spec.RequestedBy).To(Equal(want.RequestedBy))
			Expect(got.Spec.Approvals).To(Equal(want.Approvals))
			Expect(identity.Verify(got, key(ctx))).To(Succeed())
		}),

		Entry("9. oncall creates a rollback: accepted; a forward Promotion: denied", int32(1), func(ctx context.Context, f fixture) {
			rollback := &batonv1alpha1.Promotion{
				ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "undo"},
				Spec:       batonv1alpha1.PromotionSpec{Environment: envName, Rollback: &batonv1alpha1.RollbackSpec{}, Reason: "checkout is broken"},
			}
			Expect(users["oncall"].Create(ctx, rollback)).To(Succeed())
			p := get(ctx, f.ns, "undo")
			Expect(p.Spec.RequestedBy.Username).To(Equal("oncall"))
			Expect(identity.Verify(p, key(ctx))).To(Succeed())
			// A rollback skips the gate unless requireForRollback is set.
			approved, _, _, _ := identity.ApprovalState(f.env, p)
			Expect(approved).To(BeTrue())

			expectDenied(users["oncall"].Create(ctx, aliceManifest(f.ns, "forward")), `"oncall" may not create a Promotion into Environment "production"`, `"promote" verb`)
			// And alice, a promoter, may not roll back.
			rollback2 := rollback.DeepCopy()
			rollback2.ObjectMeta = metav1.ObjectMeta{Namespace: f.ns, Name: "undo2"}
			expectDenied(users["alice"].Create(ctx, rollback2), `"rollback" verb`)
		}),

		Entry("10. created while the webhook configuration is removed: no marker, Verify fails", int32(1), func(ctx context.Context, f fixture) {
			withoutWebhooks(ctx, f.ns, func() {
				Expect(admin.Create(ctx, aliceManifest(f.ns, "sneaky"))).To(Succeed())
			})
			p := get(ctx, f.ns, "sneaky")
			Expect(p.Spec.RequestedBy.Username).To(Equal("bob"), "the webhook did run")
			Expect(identity.Verify(p, key(ctx))).To(MatchError(identity.ErrMarkerMissing))
			// Nor can the webhook be used to launder it afterwards.
			resolve(ctx, f.ns, "sneaky")
			expectDenied(approve(ctx, "bob", f.ns, "sneaky"), "was not admitted by Baton")
		}),

		Entry("11. a marker or spec edited behind the webhook's back: Verify fails", int32(1), func(ctx context.Context, f fixture) {
			f.created(ctx, "p")
			f.created(ctx, "q")
			expectDenied(users["alice"].Patch(ctx, get(ctx, f.ns, "p"), client.RawPatch(types.MergePatchType,
				[]byte(`{"metadata":{"annotations":{"`+batonv1alpha1.AdmissionMarkerAnnotation+`":"v1:AAAA"}}}`))),
				"metadata.annotations["+batonv1alpha1.AdmissionMarkerAnnotation+"]", "written only by Baton's admission webhook")
			q := get(ctx, f.ns, "q")
			withoutWebhooks(ctx, f.ns, func() {
				// The admin copies q's valid marker onto p.
				Expect(admin.Patch(ctx, get(ctx, f.ns, "p"), client.RawPatch(types.MergePatchType,
					[]byte(`{"metadata":{"annotations":{"`+batonv1alpha1.AdmissionMarkerAnnotation+`":"`+q.Annotations[batonv1alpha1.AdmissionMarkerAnnotation]+`"}}}`)))).To(Succeed())
				// And forges an approval on q.
				Expect(admin.Patch(ctx, q, client.RawPatch(types.JSONPatchType,
					[]byte(`[{"op":"add","path":"/spec/approvals","value":[{"username":"bob","image":"`+image+`","approvedAt":"2026-01-01T00:00:00Z"}]}]`)))).To(Succeed())
			})
			Expect(identity.Verify(get(ctx, f.ns, "p"), key(ctx))).To(MatchError(identity.ErrMarkerMismatch))
			Expect(identity.Verify(get(ctx, f.ns, "q"), key(ctx))).To(MatchError(identity.ErrMarkerMismatch))
		}),

		Entry("12. approval.required: 2 needs two distinct approvers", int32(2), func(ctx context.Context, f fixture) {
			f.created(ctx, "p")
			Expect(approve(ctx, "bob", f.ns, "p")).To(Succeed())
			approved, have, need, msg := identity.ApprovalState(f.env, get(ctx, f.ns, "p"))
			Expect([]any{approved, have, need}).To(Equal([]any{false, 1, 2}))
			Expect(msg).To(ContainSubstring("1 more needed"))
			Expect(msg).To(ContainSubstring(`"approve" verb on environments/production`))
			// The documented one-liner also works on a non-empty list.
			Expect(approve(ctx, "dave", f.ns, "p")).To(Succeed())
			p := get(ctx, f.ns, "p")
			Expect(usernames(p)).To(Equal([]string{"bob", "dave"}))
			approved, have, need, msg = identity.ApprovalState(f.env, p)
			Expect([]any{approved, have, need}).To(Equal([]any{true, 2, 2}), msg)
		}),

		Entry("13. alice writes promotions/status: denied by RBAC", int32(1), func(ctx context.Context, f fixture) {
			f.created(ctx, "p")
			p := &batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "p"}}
			err := users["alice"].Status().Patch(ctx, p, client.RawPatch(types.MergePatchType, []byte(`{"status":{"image":"registry.example.com/web:evil"}}`)))
			expectDenied(err, `cannot patch resource "promotions/status"`)
			Expect(get(ctx, f.ns, "p").Status.Image).To(Equal(image))
		}),

		Entry("14. removing a finalizer succeeds while the webhook is down", int32(1), func(ctx context.Context, f fixture) {
			p := aliceManifest(f.ns, "p")
			p.Finalizers = []string{"promotion.baton.dev/finalizer"}
			Expect(users["alice"].Create(ctx, p)).To(Succeed())
			marker := get(ctx, f.ns, "p").Annotations[batonv1alpha1.AdmissionMarkerAnnotation]
			withDeadWebhooks(ctx, f.ns, func() {
				// A spec change needs the webhook, and fails closed...
				err := users["alice"].Patch(ctx, get(ctx, f.ns, "p"), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"cancel":true}}`)))
				Expect(err).To(HaveOccurred())
				Expect(err.Error()).To(ContainSubstring("failed calling webhook"))
				// ...the finalizer removal does not.
				Expect(admin.Patch(ctx, get(ctx, f.ns, "p"), client.RawPatch(types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/finalizers"}]`)))).To(Succeed())
			})
			got := get(ctx, f.ns, "p")
			Expect(got.Finalizers).To(BeEmpty())
			Expect(got.Annotations[batonv1alpha1.AdmissionMarkerAnnotation]).To(Equal(marker))
			Expect(identity.Verify(got, key(ctx))).To(Succeed())
		}),

		Entry("cancel is stamped with who canceled", int32(1), func(ctx context.Context, f fixture) {
			f.created(ctx, "p")
			expectDenied(users["bob"].Patch(ctx, get(ctx, f.ns, "p"), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"cancel":true}}`))),
				`"bob" may not cancel a Promotion into Environment "production"`, `"promote" verb`)
			Expect(users["alice"].Patch(ctx, get(ctx, f.ns, "p"), client.RawPatch(types.MergePatchType,
				[]byte(`{"spec":{"cancel":true,"canceledBy":{"username":"bob"}}}`)))).To(Succeed())
			p := get(ctx, f.ns, "p")
			Expect(p.Spec.Cancel).To(BeTrue())
			Expect(p.Spec.CanceledBy).NotTo(BeNil())
			Expect(p.Spec.CanceledBy.Username).To(Equal("alice"))
			Expect(identity.Verify(p, key(ctx))).To(Succeed())
		}),

		Entry("the append form fails while spec.approvals is absent; the documented form works", int32(1), func(ctx context.Context, f fixture) {
			f.created(ctx, "p")
			Expect(jsonPatch(ctx, "bob", f.ns, "p", appendCmd)).NotTo(Succeed())
			Expect(approve(ctx, "bob", f.ns, "p")).To(Succeed())
			Expect(usernames(get(ctx, f.ns, "p"))).To(Equal([]string{"bob"}))
		}),

		Entry("a spec.environment that cannot name an Environment is denied naming the field, not answered with a server error", int32(1), func(ctx context.Context, f fixture) {
			// Mutating admission runs before the schema's pattern, so the
			// webhook sees these names first: the first three cannot even
			// be put in a URL to read the Environment.
			for _, name := range []string{"team/production", "..", "prod%2F", "Production", ""} {
				before := len(logs.String())
				p := aliceManifest(f.ns, "bad")
				p.Spec.Environment = name
				err := users["alice"].Create(ctx, p)
				expectDenied(err, "spec.environment", "Environment name")
				Expect(logs.String()[before:]).NotTo(ContainSubstring("ERROR"), "spec.environment %q was logged as a webhook failure", name)
			}
			// A field of the wrong type also reaches the webhook before the
			// schema: it cannot be decoded, which is the client's error.
			u := &unstructured.Unstructured{}
			Expect(runtimeDefaultConverter(aliceManifest(f.ns, "bad"), u)).To(Succeed())
			Expect(unstructured.SetNestedField(u.Object, "previous", "spec", "rollback", "toRevision")).To(Succeed())
			unstructured.RemoveNestedField(u.Object, "spec", "image")
			before := len(logs.String())
			err := users["alice"].Create(ctx, u)
			Expect(apierrors.IsBadRequest(err)).To(BeTrue(), "want BadRequest, got %v", err)
			Expect(err.Error()).To(ContainSubstring("spec.rollback.toRevision"))
			Expect(logs.String()[before:]).NotTo(ContainSubstring("ERROR"))
			Expect(apierrors.IsNotFound(admin.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: "bad"}, &batonv1alpha1.Promotion{}))).To(BeTrue())
		}),

		Entry("generateName is refused, because the name is sealed into the marker", int32(1), func(ctx context.Context, f fixture) {
			p := aliceManifest(f.ns, "")
			p.GenerateName = "p-"
			expectDenied(users["alice"].Create(ctx, p), "metadata.name", "generateName is not supported")
		}),
	)

	It("creates the key Secret once, race-safe, and never logs it", func() {
		ctx := context.Background()
		first := key(ctx)
		// A second replica starting up keeps the existing key.
		other := &identity.KeyStore{Reader: admin, Writer: admin, Secret: keySecret}
		Expect(other.EnsureKey(ctx)).To(Succeed())
		second, err := other.Key(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(second).To(Equal(first))
		Expect(len(first)).To(BeNumerically(">=", identity.MinKeySize))
		// By now every row has run through the webhook, denials included.
		Expect(logs.String()).To(ContainSubstring("denied"), "the webhook logged nothing; this check would be vacuous")
		for _, form := range []string{string(first), base64.StdEncoding.EncodeToString(first), base64.RawURLEncoding.EncodeToString(first), hex.EncodeToString(first)} {
			Expect(logs.String()).NotTo(ContainSubstring(form))
		}
	})
})
