package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// The webhook paths on the manager's webhook server.
const (
	MutatePath   = "/mutate-promotion-baton-dev-v1alpha1-promotion"
	ValidatePath = "/validate-promotion-baton-dev-v1alpha1-promotion"
)

// Both webhooks run only on CREATE, and on an UPDATE that changes what the
// engine trusts: the spec, a promotion.baton.dev/ annotation (the marker
// included), ownerReferences, or removes the engine's finalizer from a
// Promotion that is not terminal (CheckMetadata). The validating webhook
// also sees a change of the finished label (FinishedLabel), which takes a
// Promotion out of the manager's caches; the mutating one has nothing to
// stamp there. Every other metadata update (other labels and annotations,
// the finalizer of a finished Promotion) never depends on the webhook being
// up, so deleting a finished Promotion never waits for the manager. The matchConditions are in the patch because
// controller-gen has no dedicated marker for them; the terminal phases are
// those of PromotionPhase.IsTerminal.
//
// +kubebuilder:webhook:path=/mutate-promotion-baton-dev-v1alpha1-promotion,mutating=true,failurePolicy=fail,sideEffects=None,groups=promotion.baton.dev,resources=promotions,verbs=create;update,versions=v1alpha1,name=mpromotion.promotion.baton.dev,admissionReviewVersions=v1,reinvocationPolicy=Never,timeoutSeconds=10,patch=`{"matchConditions":[{"name":"spec-or-trusted-metadata-changed","expression":"request.operation == 'CREATE' || object.spec != oldObject.spec || (has(object.metadata.annotations) && object.metadata.annotations.exists(k, k.startsWith('promotion.baton.dev/') && !(has(oldObject.metadata.annotations) && k in oldObject.metadata.annotations && oldObject.metadata.annotations[k] == object.metadata.annotations[k]))) || (has(oldObject.metadata.annotations) && oldObject.metadata.annotations.exists(k, k.startsWith('promotion.baton.dev/') && !(has(object.metadata.annotations) && k in object.metadata.annotations))) || (has(object.metadata.ownerReferences) ? object.metadata.ownerReferences : []) != (has(oldObject.metadata.ownerReferences) ? oldObject.metadata.ownerReferences : []) || (has(oldObject.metadata.finalizers) && 'promotion.baton.dev/history' in oldObject.metadata.finalizers && !(has(object.metadata.finalizers) && 'promotion.baton.dev/history' in object.metadata.finalizers) && !(has(oldObject.status) && has(oldObject.status.phase) && oldObject.status.phase in ['Succeeded', 'Failed', 'Canceled', 'Superseded']))"}]}`
// +kubebuilder:webhook:path=/validate-promotion-baton-dev-v1alpha1-promotion,mutating=false,failurePolicy=fail,sideEffects=None,groups=promotion.baton.dev,resources=promotions,verbs=create;update,versions=v1alpha1,name=vpromotion.promotion.baton.dev,admissionReviewVersions=v1,timeoutSeconds=10,patch=`{"matchConditions":[{"name":"spec-or-trusted-metadata-changed","expression":"request.operation == 'CREATE' || object.spec != oldObject.spec || (has(object.metadata.annotations) && object.metadata.annotations.exists(k, k.startsWith('promotion.baton.dev/') && !(has(oldObject.metadata.annotations) && k in oldObject.metadata.annotations && oldObject.metadata.annotations[k] == object.metadata.annotations[k]))) || (has(oldObject.metadata.annotations) && oldObject.metadata.annotations.exists(k, k.startsWith('promotion.baton.dev/') && !(has(object.metadata.annotations) && k in object.metadata.annotations))) || (has(object.metadata.ownerReferences) ? object.metadata.ownerReferences : []) != (has(oldObject.metadata.ownerReferences) ? oldObject.metadata.ownerReferences : []) || (has(oldObject.metadata.finalizers) && 'promotion.baton.dev/history' in oldObject.metadata.finalizers && !(has(object.metadata.finalizers) && 'promotion.baton.dev/history' in object.metadata.finalizers) && !(has(oldObject.status) && has(oldObject.status.phase) && oldObject.status.phase in ['Succeeded', 'Failed', 'Canceled', 'Superseded'])) || ((has(object.metadata.labels) && 'promotion.baton.dev/finished-in' in object.metadata.labels) ? object.metadata.labels['promotion.baton.dev/finished-in'] : '') != ((has(oldObject.metadata.labels) && 'promotion.baton.dev/finished-in' in oldObject.metadata.labels) ? oldObject.metadata.labels['promotion.baton.dev/finished-in'] : '')"}]}`

// SetupWebhook registers the Promotion admission webhooks on the manager's
// webhook server, and adds the Runnable that creates the key Secret at
// start-up. The returned KeyStore also verifies markers for the engine.
// self is the manager's own user, the one requester CheckMetadata lets
// change the metadata the engine trusts (NewSelf). remotes gives the
// clients of Environments' spec.cluster, where their Jobs are dry-run; nil
// dry-runs every Job in the manager's cluster.
func SetupWebhook(mgr ctrl.Manager, keySecret types.NamespacedName, self *Self, remotes RemoteClusters) (*KeyStore, error) {
	keys := &KeyStore{Reader: mgr.GetAPIReader(), Writer: mgr.GetClient(), Secret: keySecret}
	if err := mgr.Add(keys); err != nil {
		return nil, fmt.Errorf("add the admission key bootstrap: %w", err)
	}
	sar, err := authorizationv1client.NewForConfigAndClient(mgr.GetConfig(), mgr.GetHTTPClient())
	if err != nil {
		return nil, fmt.Errorf("build the SubjectAccessReview client: %w", err)
	}
	server := mgr.GetWebhookServer()
	server.Register(MutatePath, &webhook.Admission{Handler: &Mutator{
		// The manager's cache: an approval policy a few milliseconds old
		// is safe here, because the engine checks the approvals again, on
		// an uncached read, when it grants the lease and before it
		// delivers.
		Reader: mgr.GetClient(),
		// A burst of the same question (one user creating 50 Promotions)
		// costs one SubjectAccessReview; a revoked role stops working
		// within AuthorizationTTL.
		Authorizer: &CachedAuthorizer{Next: SubjectAccessReviewer{Client: sar.SubjectAccessReviews()}, TTL: AuthorizationTTL},
		Keys:       keys,
		Now:        time.Now,
	}})
	server.Register(ValidatePath, &webhook.Admission{Handler: &Validator{Keys: keys, Manager: self}})
	server.Register(FreezePath, &webhook.Admission{Handler: &FreezeMutator{
		Authorizer: SubjectAccessReviewer{Client: sar.SubjectAccessReviews()}, Keys: keys, Now: time.Now}})
	server.Register(DeployWindowPath, &webhook.Admission{Handler: DeployWindowValidator{}})
	// Uncached: the answer gates running a Pod, and Environments are
	// edited rarely.
	server.Register(EnvironmentPath, &webhook.Admission{Handler: EnvironmentValidator{
		Authorizer: SubjectAccessReviewer{Client: sar.SubjectAccessReviews()}, Client: mgr.GetClient(), Remote: remotes}})
	// The manager's cache: a warning may be a moment late.
	server.Register(EnvironmentWindowsPath, &webhook.Admission{Handler: EnvironmentWindowsWarner{Reader: mgr.GetClient()}})
	return keys, nil
}

// Mutator is the mutating webhook: it stamps identities, authorizes the
// request and writes the admission marker.
type Mutator struct {
	// Reader reads the target Environment's approval policy (the
	// manager's cache in SetupWebhook).
	Reader client.Reader
	// Authorizer checks the custom verbs.
	Authorizer Authorizer
	// Keys holds the marker key.
	Keys *KeyStore
	// Now is the clock for approval times.
	Now func() time.Time
}

// Handle implements admission.Handler.
func (m *Mutator) Handle(ctx context.Context, req admission.Request) admission.Response {
	newPromo, oldPromo, resp := decode(req)
	if resp != nil {
		return *resp
	}
	log := logf.FromContext(ctx).WithValues("promotion", klog.KObj(newPromo), "user", req.UserInfo.Username, "operation", req.Operation)
	if oldPromo != nil && !sealedChanged(oldPromo, newPromo) {
		// A metadata change (the finalizer, an ownerReference, a Baton
		// annotation) has nothing to stamp: the validating webhook judges
		// it. Verifying the stored marker here would keep Baton from
		// letting go of a Promotion whose marker no longer verifies.
		return admission.Allowed("")
	}

	key, err := m.Keys.Key(ctx)
	if err != nil {
		log.Error(err, "the admission key is not available")
		return admission.Errored(http.StatusServiceUnavailable, errors.New("Baton's admission key is not available yet; retry shortly"))
	}
	if oldPromo != nil {
		// Re-signing a Promotion that was changed behind the webhook's back
		// would launder the change, so refuse to touch it.
		if err := Verify(oldPromo, key); err != nil {
			return denied(log, fmt.Sprintf("Promotion %s was not admitted by Baton (%v); it cannot be changed, delete it and create it again", req.Name, err))
		}
	}

	if req.Operation == admissionv1.Create && verifyCreatedAt(newPromo, key, m.Now()) == nil {
		// Baton signs the Promotions it creates itself (automatic rollbacks,
		// autoPromote) so that they verify where no webhook is installed.
		// Here they are stamped and signed again like any other.
		delete(newPromo.Annotations, batonv1alpha1.AdmissionMarkerAnnotation)
	}

	policy, err := m.approvalPolicy(ctx, newPromo.Namespace, envName(newPromo, oldPromo))
	if err != nil {
		log.Error(err, "read the target Environment")
		return admission.Errored(http.StatusInternalServerError, err)
	}
	decision, denial := Admit(Request{
		Operation: req.Operation,
		Old:       oldPromo,
		New:       newPromo,
		User:      req.UserInfo,
		Now:       m.Now(),
		Approval:  policy,
	})
	if denial != nil {
		return denied(log, denial.Error())
	}
	for _, c := range decision.Checks {
		allowed, reason, err := m.Authorizer.Allowed(ctx, req.UserInfo, newPromo.Namespace, c.Verb, c.Environment)
		if err != nil {
			log.Error(err, "authorize", "verb", c.Verb)
			return admission.Errored(http.StatusInternalServerError, err)
		}
		if !allowed {
			msg := fmt.Sprintf("user %q may not %s Environment %q: that needs the %q verb on environments/%s (group %s) in namespace %s",
				req.UserInfo.Username, c.Action, c.Environment, c.Verb, c.Environment, batonv1alpha1.GroupVersion.Group, newPromo.Namespace)
			if reason != "" {
				msg += " (" + reason + ")"
			}
			return denied(log, msg)
		}
	}

	promo := decision.Promotion
	if oldPromo != nil {
		// An update marker binds the stored object's UID, so that it is
		// worthless on any other object, a re-created namesake included.
		promo.UID = oldPromo.UID
	}
	marker, err := Sign(promo, key, m.Now())
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("sign the Promotion: %w", err))
	}
	if promo.Annotations == nil {
		promo.Annotations = map[string]string{}
	}
	promo.Annotations[batonv1alpha1.AdmissionMarkerAnnotation] = marker
	raw, err := json.Marshal(promo)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("encode the stamped Promotion: %w", err))
	}
	log.V(1).Info("admitted", "checks", len(decision.Checks), "approvals", len(promo.Spec.Approvals))
	return admission.PatchResponseFromRaw(req.Object.Raw, raw)
}

func (m *Mutator) approvalPolicy(ctx context.Context, namespace, name string) (*batonv1alpha1.ApprovalPolicy, error) {
	if checkEnvironment(name) != nil {
		// No Environment has this name, and the client could not even build
		// the URL to read it; Admit denies it with the reason.
		return nil, nil
	}
	env := &batonv1alpha1.Environment{}
	if err := m.Reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, env); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get Environment %s/%s: %w", namespace, name, err)
	}
	return &env.Spec.Approval, nil
}

// Validator is the validating webhook. It runs after every mutating webhook
// and refuses an object whose marker no longer matches, so that a later
// mutation cannot slip past the seal, and a change to the metadata the
// engine trusts by anyone but the manager (CheckMetadata).
type Validator struct {
	Keys *KeyStore
	// Manager identifies Baton's own manager.
	Manager *Self
}

// Handle implements admission.Handler.
func (v *Validator) Handle(ctx context.Context, req admission.Request) admission.Response {
	promo, oldPromo, resp := decode(req)
	if resp != nil {
		return *resp
	}
	log := logf.FromContext(ctx).WithValues("promotion", klog.KObj(promo), "user", req.UserInfo.Username)
	if oldPromo == nil || sealedChanged(oldPromo, promo) {
		key, err := v.Keys.Key(ctx)
		if err != nil {
			log.Error(err, "the admission key is not available")
			return admission.Errored(http.StatusServiceUnavailable, errors.New("Baton's admission key is not available yet; retry shortly"))
		}
		// The object is final here: the API server has assigned its UID
		// and creationTimestamp, which the marker is checked against.
		if err := Verify(promo, key); err != nil {
			return denied(log, fmt.Sprintf("metadata.annotations[%s]: %v", batonv1alpha1.AdmissionMarkerAnnotation, err))
		}
	}
	byManager, err := v.Manager.Is(ctx, req.UserInfo)
	if err != nil {
		log.Error(err, "identify the manager")
		return admission.Errored(http.StatusServiceUnavailable, err)
	}
	if denial := CheckMetadata(MetadataRequest{Operation: req.Operation, Old: oldPromo, New: promo, ByManager: byManager}); denial != nil {
		return denied(log, denial.Error())
	}
	return admission.Allowed("")
}

// sealedChanged reports whether an update changes what the marker seals:
// the spec, Baton's annotations, or the marker itself.
func sealedChanged(old, sent *batonv1alpha1.Promotion) bool {
	return !equality.Semantic.DeepEqual(old.Spec, sent.Spec) ||
		!maps.Equal(batonAnnotations(old), batonAnnotations(sent)) ||
		old.Annotations[batonv1alpha1.AdmissionMarkerAnnotation] != sent.Annotations[batonv1alpha1.AdmissionMarkerAnnotation]
}

func decode(req admission.Request) (newPromo, oldPromo *batonv1alpha1.Promotion, resp *admission.Response) {
	newPromo = &batonv1alpha1.Promotion{}
	if err := json.Unmarshal(req.Object.Raw, newPromo); err != nil {
		r := admission.Errored(http.StatusBadRequest, fmt.Errorf("decode the Promotion: %w", err))
		return nil, nil, &r
	}
	if req.Operation == admissionv1.Update {
		oldPromo = &batonv1alpha1.Promotion{}
		if err := json.Unmarshal(req.OldObject.Raw, oldPromo); err != nil {
			r := admission.Errored(http.StatusBadRequest, fmt.Errorf("decode the stored Promotion: %w", err))
			return nil, nil, &r
		}
	}
	return newPromo, oldPromo, nil
}

func envName(newPromo, oldPromo *batonv1alpha1.Promotion) string {
	if oldPromo != nil {
		return oldPromo.Spec.Environment
	}
	return newPromo.Spec.Environment
}

func denied(log interface{ Info(string, ...any) }, msg string) admission.Response {
	log.Info("denied", "reason", msg)
	return admission.Denied(msg)
}
