package identity

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// VerbFreeze allows creating, lifting and deleting a Freeze (on the
// Environment it names, or on environments in the namespace) and a
// ClusterFreeze (on environments cluster-wide).
const VerbFreeze = "freeze"

// FreezePath is the freeze webhook's path on the manager's webhook server.
const FreezePath = "/mutate-promotion-baton-dev-v1alpha1-freeze"

// The freeze webhook sees every create, update and delete of a Freeze or a
// ClusterFreeze: it stamps frozenBy and liftedBy, seals them, and checks the
// verb freeze. On delete it can only allow or deny.
//
// +kubebuilder:webhook:path=/mutate-promotion-baton-dev-v1alpha1-freeze,mutating=true,failurePolicy=fail,sideEffects=None,groups=promotion.baton.dev,resources=freezes;clusterfreezes,verbs=create;update;delete,versions=v1alpha1,name=mfreeze.promotion.baton.dev,admissionReviewVersions=v1,reinvocationPolicy=Never,timeoutSeconds=10

// freezeSealed is what a freeze seal covers. Its first field sets it apart
// from a Promotion marker's content, so neither can stand for the other.
type freezeSealed struct {
	Seal      string                   `json:"seal"`
	Kind      string                   `json:"kind"`
	Namespace string                   `json:"namespace"`
	Name      string                   `json:"name"`
	Spec      batonv1alpha1.FreezeSpec `json:"spec"`
}

// SealFreeze is the seal of a Freeze (namespace set) or ClusterFreeze.
func SealFreeze(kind, namespace, name string, spec batonv1alpha1.FreezeSpec, key []byte) (string, error) {
	if len(key) < MinKeySize {
		return "", fmt.Errorf("the admission key has %d bytes, want at least %d", len(key), MinKeySize)
	}
	encoded, err := json.Marshal(freezeSealed{Seal: "freeze/v1", Kind: kind, Namespace: namespace, Name: name, Spec: spec})
	if err != nil {
		return "", fmt.Errorf("encode the freeze: %w", err)
	}
	h := hmac.New(sha256.New, key)
	h.Write(encoded)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)), nil
}

// VerifyFreeze checks a freeze's seal; an error matching ErrNotAdmitted when
// it does not verify.
func VerifyFreeze(kind, namespace, name string, spec batonv1alpha1.FreezeSpec, seal string, key []byte) error {
	want, err := SealFreeze(kind, namespace, name, spec, key)
	if err != nil {
		return err
	}
	if seal == "" || !hmac.Equal([]byte(seal), []byte(want)) {
		return ErrMarkerMismatch
	}
	return nil
}

// VerifyFreeze checks a freeze's seal with the current key.
func (s *KeyStore) VerifyFreeze(ctx context.Context, kind, namespace, name string, spec batonv1alpha1.FreezeSpec, seal string) error {
	key, err := s.Key(ctx)
	if err != nil {
		return err
	}
	return VerifyFreeze(kind, namespace, name, spec, seal, key)
}

// FreezeRequest is one admission request for a Freeze or ClusterFreeze.
type FreezeRequest struct {
	Operation admissionv1.Operation
	// Kind is Freeze or ClusterFreeze.
	Kind     string
	Old, New *batonv1alpha1.Freeze
	User     authenticationv1.UserInfo
	Now      time.Time
}

// AdmitFreeze stamps frozenBy on create and liftedBy when lifted goes to
// true, keeping both from the stored object otherwise, whatever a client
// sends; and says which check the request needs. It is pure.
func AdmitFreeze(r FreezeRequest) (*batonv1alpha1.Freeze, *Check, *Denial) {
	user, denial := userInfo(r.User)
	if denial != nil {
		return nil, nil, denial
	}
	subject := r.New
	if r.Operation == admissionv1.Delete {
		subject = r.Old
	}
	if subject == nil {
		return nil, nil, deny("object", "the request carries no %s", r.Kind)
	}
	check := &Check{Verb: VerbFreeze, Environment: subject.Spec.Environment, Action: "freeze or unfreeze"}
	now := metav1.NewTime(r.Now.UTC().Truncate(time.Second))
	switch r.Operation {
	case admissionv1.Create:
		if _, ok := r.New.Annotations[batonv1alpha1.FreezeMarkerAnnotation]; ok {
			return nil, nil, deny("metadata.annotations["+batonv1alpha1.FreezeMarkerAnnotation+"]", "is written only by Baton's admission webhook; remove it from the manifest")
		}
		if r.New.Name == "" {
			return nil, nil, deny("metadata.name", "is required: generateName is not supported, because the name is sealed before the API server would generate one")
		}
		if r.New.Spec.Reason == "" {
			return nil, nil, deny("spec.reason", "is required: say why deploys stop, for everyone whose Promotion waits (kubectl promote freeze ENV --reason \"...\")")
		}
		if r.New.Spec.Lifted {
			return nil, nil, deny("spec.lifted", "a new freeze cannot start lifted")
		}
		f := r.New.DeepCopy()
		f.Spec.FrozenBy, f.Spec.FrozenAt = &user, &now
		f.Spec.LiftedBy, f.Spec.LiftedAt = nil, nil
		return f, check, nil
	case admissionv1.Update:
		return admitFreezeUpdate(r, user, now, check)
	case admissionv1.Delete:
		return nil, check, nil
	}
	return nil, nil, deny("operation", "%s is not admitted by this webhook", r.Operation)
}

func admitFreezeUpdate(r FreezeRequest, user batonv1alpha1.UserInfo, now metav1.Time, check *Check) (*batonv1alpha1.Freeze, *Check, *Denial) {
	old, f := r.Old, r.New.DeepCopy()
	f.Spec.FrozenBy, f.Spec.FrozenAt = old.Spec.FrozenBy.DeepCopy(), old.Spec.FrozenAt.DeepCopy()
	f.Spec.LiftedBy, f.Spec.LiftedAt = old.Spec.LiftedBy.DeepCopy(), old.Spec.LiftedAt.DeepCopy()
	if f.Spec.Lifted && !old.Spec.Lifted {
		f.Spec.LiftedBy, f.Spec.LiftedAt = &user, &now
	}
	sent, ok := r.New.Annotations[batonv1alpha1.FreezeMarkerAnnotation]
	if ok && sent != old.Annotations[batonv1alpha1.FreezeMarkerAnnotation] {
		return nil, nil, deny("metadata.annotations["+batonv1alpha1.FreezeMarkerAnnotation+"]", "is written only by Baton's admission webhook and cannot be set or changed by a client")
	}
	if equality.Semantic.DeepEqual(f.Spec, old.Spec) {
		// Labels or annotations: nothing the seal covers changes.
		return f, nil, nil
	}
	return f, check, nil
}

// FreezeMutator is the freeze webhook.
type FreezeMutator struct {
	Authorizer Authorizer
	Keys       *KeyStore
	Now        func() time.Time
}

// Handle implements admission.Handler.
func (m *FreezeMutator) Handle(ctx context.Context, req admission.Request) admission.Response {
	var newF, oldF *batonv1alpha1.Freeze
	if len(req.Object.Raw) > 0 {
		newF = &batonv1alpha1.Freeze{}
		if err := json.Unmarshal(req.Object.Raw, newF); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode the %s: %w", req.Kind.Kind, err))
		}
	}
	if len(req.OldObject.Raw) > 0 {
		oldF = &batonv1alpha1.Freeze{}
		if err := json.Unmarshal(req.OldObject.Raw, oldF); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode the stored %s: %w", req.Kind.Kind, err))
		}
	}
	log := logf.FromContext(ctx).WithValues("kind", req.Kind.Kind, "freeze", klog.KRef(req.Namespace, req.Name), "user", req.UserInfo.Username, "operation", req.Operation)
	f, check, denial := AdmitFreeze(FreezeRequest{Operation: req.Operation, Kind: req.Kind.Kind, Old: oldF, New: newF, User: req.UserInfo, Now: m.Now()})
	if denial != nil {
		return denied(log, denial.Error())
	}
	if check != nil {
		if resp := m.authorize(ctx, req, *check); resp != nil {
			return *resp
		}
	}
	if f == nil {
		log.Info("freeze deleted", "reason", oldF.Spec.Reason)
		return admission.Allowed("")
	}
	return m.seal(ctx, req, f, log)
}

func (m *FreezeMutator) authorize(ctx context.Context, req admission.Request, c Check) *admission.Response {
	allowed, reason, err := m.Authorizer.Allowed(ctx, req.UserInfo, req.Namespace, c.Verb, c.Environment)
	if err != nil {
		r := admission.Errored(http.StatusInternalServerError, err)
		return &r
	}
	if allowed {
		return nil
	}
	target, scope := "environments/"+c.Environment, "in namespace "+req.Namespace
	if c.Environment == "" {
		target = "environments"
	}
	if req.Namespace == "" {
		scope = "cluster-wide (a ClusterRoleBinding)"
	}
	msg := fmt.Sprintf("user %q may not %s: that needs the %q verb on %s (group %s) %s",
		req.UserInfo.Username, c.Action, c.Verb, target, batonv1alpha1.GroupVersion.Group, scope)
	if reason != "" {
		msg += " (" + reason + ")"
	}
	r := denied(logf.FromContext(ctx), msg)
	return &r
}

func (m *FreezeMutator) seal(ctx context.Context, req admission.Request, f *batonv1alpha1.Freeze, log interface {
	Info(string, ...any)
	Error(error, string, ...any)
}) admission.Response {
	key, err := m.Keys.Key(ctx)
	if err != nil {
		log.Error(err, "the admission key is not available")
		return admission.Errored(http.StatusServiceUnavailable, errors.New("Baton's admission key is not available yet; retry shortly"))
	}
	seal, err := SealFreeze(req.Kind.Kind, req.Namespace, req.Name, f.Spec, key)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if f.Annotations == nil {
		f.Annotations = map[string]string{}
	}
	f.Annotations[batonv1alpha1.FreezeMarkerAnnotation] = seal
	raw, err := json.Marshal(f)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("encode the stamped %s: %w", req.Kind.Kind, err))
	}
	log.Info("freeze admitted", "reason", f.Spec.Reason, "lifted", f.Spec.Lifted)
	return admission.PatchResponseFromRaw(req.Object.Raw, raw)
}
