package identity_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/identity"
)

// fuzzManager is the manager's own user in FuzzHandle.
const fuzzManager = "system:serviceaccount:baton-system:baton-controller-manager"

// staticAuthorizer answers every SubjectAccessReview the same way.
type staticAuthorizer bool

func (a staticAuthorizer) Allowed(context.Context, authenticationv1.UserInfo, string, string, string) (bool, string, error) {
	return bool(a), "fuzz", nil
}

// fuzzWebhooks builds the real Mutator and Validator over an in-memory
// store holding the key Secret and the production Environment in "shop":
// the fuzzer needs thousands of requests a second, which no API server
// answers.
func fuzzWebhooks(f *testing.F) (func(allow bool) *identity.Mutator, *identity.Validator, []byte) {
	key := []byte("0123456789abcdef0123456789abcdef")
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		f.Fatal(err)
	}
	if err := batonv1alpha1.AddToScheme(scheme); err != nil {
		f.Fatal(err)
	}
	store := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "baton-system", Name: "key"}, Data: map[string][]byte{identity.KeySecretDataKey: key}},
		&batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "production"},
			Spec: batonv1alpha1.EnvironmentSpec{Approval: batonv1alpha1.ApprovalPolicy{Required: 1}}},
	).Build()
	keys := &identity.KeyStore{Reader: store, Writer: store, Secret: types.NamespacedName{Namespace: "baton-system", Name: "key"}}
	cs := kubefake.NewClientset()
	cs.PrependReactor("create", "selfsubjectreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, &authenticationv1.SelfSubjectReview{Status: authenticationv1.SelfSubjectReviewStatus{UserInfo: authenticationv1.UserInfo{Username: fuzzManager}}}, nil
	})
	mutator := func(allow bool) *identity.Mutator {
		return &identity.Mutator{Reader: store, Authorizer: staticAuthorizer(allow), Keys: keys, Now: time.Now}
	}
	return mutator, &identity.Validator{Keys: keys, Manager: &identity.Self{Client: cs.AuthenticationV1().SelfSubjectReviews()}}, key
}

var fuzzOperations = []admissionv1.Operation{admissionv1.Create, admissionv1.Update, admissionv1.Delete, admissionv1.Connect, ""}

// FuzzHandle drives the real AdmissionReview handlers, the Mutator and then
// the Validator on what the Mutator let through, with arbitrary users, old
// and new objects and operations, the way the API server chains them. What
// gets through both never records anyone but this request's user as the
// requester of a new Promotion, never changes the requester, the stored
// approvals or the metadata the engine trusts on update (but for the
// manager), and always carries a marker the engine accepts. Every refusal
// says why.
func FuzzHandle(f *testing.F) {
	mutator, validator, key := fuzzWebhooks(f)
	stored := `{"metadata":{"name":"p","namespace":"shop","uid":"u-1","creationTimestamp":"2026-12-01T00:00:00Z","finalizers":["promotion.baton.dev/history"]},` +
		`"spec":{"environment":"production","image":"web:1","requestedBy":{"username":"alice"}},"status":{"image":"web:1","phase":"RollingOut"}}`
	f.Add([]byte(`{}`), []byte(`{"metadata":{"name":"p","namespace":"shop"},"spec":{"environment":"production","image":"web:1","requestedBy":{"username":"bob"}}}`),
		"alice", "developers", uint8(0), true, false, false)
	f.Add([]byte(stored), []byte(strings.Replace(stored, `"requestedBy":{"username":"alice"}`, `"requestedBy":{"username":"alice"},"approvals":[{}]`, 1)),
		"bob", "approvers", uint8(1), true, true, false)
	f.Add([]byte(stored), []byte(strings.Replace(stored, `"finalizers":["promotion.baton.dev/history"]`, `"finalizers":[]`, 1)),
		"mallory", "", uint8(1), true, true, false)
	f.Add([]byte(stored), []byte(strings.Replace(stored, `"uid":"u-1",`, `"uid":"u-1","ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"x","uid":"d"}],`, 1)),
		"mallory", "", uint8(1), true, true, false)
	f.Add([]byte(stored), []byte(strings.Replace(stored, `"uid":"u-1",`, `"uid":"u-1","annotations":{"promotion.baton.dev/auto-promote-key":"k"},`, 1)),
		fuzzManager, "", uint8(1), true, true, true)
	f.Add([]byte(stored), []byte(strings.Replace(stored, `"uid":"u-1",`, `"uid":"u-1","annotations":{"promotion.baton.dev/admission":"v2:create:1:AAAA"},`, 1)),
		"mallory", "", uint8(1), false, true, false)
	f.Fuzz(func(t *testing.T, oldJSON, newJSON []byte, username, groups string, op uint8, allow, signOld, asManager bool) {
		ctx := context.Background()
		if asManager {
			username = fuzzManager
		}
		operation := fuzzOperations[int(op)%len(fuzzOperations)]
		old := &batonv1alpha1.Promotion{}
		if operation == admissionv1.Update && signOld {
			// A stored Promotion the webhook admitted earlier.
			if json.Unmarshal(oldJSON, old) != nil || identity.SignInto(old, key) != nil {
				return
			}
			oldJSON, _ = json.Marshal(old)
		}
		req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			UID: "fuzz", Operation: operation, Namespace: "shop", Name: "p",
			UserInfo:  authenticationv1.UserInfo{Username: username, Groups: strings.Split(groups, ",")},
			Object:    runtime.RawExtension{Raw: newJSON},
			OldObject: runtime.RawExtension{Raw: oldJSON},
		}}
		resp := mutator(allow).Handle(ctx, req)
		if !expectReason(t, "mutating", resp) {
			return
		}
		final, err := applyPatches(newJSON, resp)
		if err != nil {
			t.Fatalf("the mutating webhook answered a patch that does not apply: %v", err)
		}
		promo := &batonv1alpha1.Promotion{}
		if err := json.Unmarshal(final, promo); err != nil {
			t.Fatalf("the patched object does not decode: %v", err)
		}
		// What the API server does between the two webhooks.
		switch operation {
		case admissionv1.Create:
			promo.UID, promo.CreationTimestamp = "u-new", metav1.NewTime(time.Now())
		case admissionv1.Update:
			if json.Unmarshal(oldJSON, old) != nil {
				t.Fatal("the mutating webhook admitted an update whose stored object does not decode")
			}
			promo.UID, promo.CreationTimestamp = old.UID, old.CreationTimestamp
		}
		final, _ = json.Marshal(promo)
		req.Object.Raw = final
		if !expectReason(t, "validating", validator.Handle(ctx, req)) {
			return
		}
		// A metadata-only update seals nothing new: the manager may still
		// let go of a Promotion whose marker no longer verifies.
		if operation == admissionv1.Create || !sameSeal(old, promo) {
			if err := identity.Verify(promo, key); err != nil {
				t.Fatalf("both webhooks admitted a Promotion the engine ignores: %v", err)
			}
		}
		checkAdmitted(t, operation, old, promo, username)
	})
}

// sameSeal reports whether an update left what the marker seals alone.
func sameSeal(old, got *batonv1alpha1.Promotion) bool {
	if !equality.Semantic.DeepEqual(old.Spec, got.Spec) {
		return false
	}
	for _, pair := range [][2]*batonv1alpha1.Promotion{{old, got}, {got, old}} {
		for k, v := range pair[0].Annotations {
			if w, ok := pair[1].Annotations[k]; strings.HasPrefix(k, batonv1alpha1.BatonPrefix) && (!ok || v != w) {
				return false
			}
		}
	}
	return true
}

// expectReason reports whether resp allows the request, and fails the test
// for a refusal that does not say why.
func expectReason(t *testing.T, webhook string, resp admission.Response) bool {
	t.Helper()
	if resp.Allowed {
		return true
	}
	if resp.Result == nil || resp.Result.Message == "" {
		t.Fatalf("the %s webhook refused without a reason: %+v", webhook, resp.Result)
	}
	if resp.Result.Code == http.StatusInternalServerError {
		t.Fatalf("the %s webhook failed on a client's request: %s", webhook, resp.Result.Message)
	}
	return false
}

func applyPatches(raw []byte, resp admission.Response) ([]byte, error) {
	if len(resp.Patches) == 0 {
		return raw, nil
	}
	ops, err := json.Marshal(resp.Patches)
	if err != nil {
		return nil, err
	}
	patch, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		return nil, err
	}
	out, err := patch.Apply(raw)
	if err != nil {
		return nil, errors.Join(errors.New("apply "+string(ops)), err)
	}
	return out, nil
}

// checkAdmitted holds what gets through both webhooks to the identities and
// the metadata the engine trusts.
func checkAdmitted(t *testing.T, op admissionv1.Operation, old, got *batonv1alpha1.Promotion, username string) {
	t.Helper()
	if op == admissionv1.Create {
		if got.Spec.RequestedBy == nil || got.Spec.RequestedBy.Username != username || len(got.Spec.Approvals) != 0 {
			t.Fatalf("create by %q recorded requester %+v and approvals %+v", username, got.Spec.RequestedBy, got.Spec.Approvals)
		}
		return
	}
	if !equality.Semantic.DeepEqual(got.Spec.RequestedBy, old.Spec.RequestedBy) {
		t.Fatalf("update changed the requester: %+v -> %+v", old.Spec.RequestedBy, got.Spec.RequestedBy)
	}
	for i := range old.Spec.Approvals {
		if i >= len(got.Spec.Approvals) || !equality.Semantic.DeepEqual(got.Spec.Approvals[i], old.Spec.Approvals[i]) {
			t.Fatalf("stored approval %d was dropped or edited", i)
		}
	}
	if username == fuzzManager {
		return
	}
	if !equality.Semantic.DeepEqual(got.OwnerReferences, old.OwnerReferences) {
		t.Fatalf("%q changed ownerReferences: %+v -> %+v", username, old.OwnerReferences, got.OwnerReferences)
	}
	if controllerutil.ContainsFinalizer(old, batonv1alpha1.PromotionFinalizer) && !controllerutil.ContainsFinalizer(got, batonv1alpha1.PromotionFinalizer) && !old.Status.Phase.IsTerminal() {
		t.Fatalf("%q removed the engine's finalizer from a %q Promotion", username, old.Status.Phase)
	}
	for k, v := range old.Annotations {
		if strings.HasPrefix(k, batonv1alpha1.BatonPrefix) && k != batonv1alpha1.AdmissionMarkerAnnotation && got.Annotations[k] != v {
			t.Fatalf("%q changed annotation %s", username, k)
		}
	}
	for k := range got.Annotations {
		if _, had := old.Annotations[k]; strings.HasPrefix(k, batonv1alpha1.BatonPrefix) && k != batonv1alpha1.AdmissionMarkerAnnotation && !had {
			t.Fatalf("%q added annotation %s", username, k)
		}
	}
}
