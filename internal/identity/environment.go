package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// EnvironmentPath is the Environment webhook's path.
const EnvironmentPath = "/validate-promotion-baton-dev-v1alpha1-environment"

// A job check runs a Pod of the author's choosing with Baton's rights to
// create Jobs. This webhook keeps that from being a way around RBAC: who
// adds or changes a job check must be allowed to create Jobs in the
// namespace themselves. The matchCondition calls it only for an
// Environment that has a job check, so every other Environment never
// depends on the webhook being up.
//
// +kubebuilder:webhook:path=/validate-promotion-baton-dev-v1alpha1-environment,mutating=false,failurePolicy=fail,sideEffects=None,groups=promotion.baton.dev,resources=environments,verbs=create;update,versions=v1alpha1,name=venvironment.promotion.baton.dev,admissionReviewVersions=v1,timeoutSeconds=10,patch=`{"matchConditions":[{"name":"has-job-check","expression":"has(object.spec.verification) && has(object.spec.verification.checks) && object.spec.verification.checks.exists(c, has(c.job))"}]}`

// JobAuthorizer answers whether a user may create a kind of object.
type JobAuthorizer interface {
	MayCreate(ctx context.Context, user authenticationv1.UserInfo, namespace, group, resource string) (bool, string, error)
}

// EnvironmentValidator is the Environment webhook.
type EnvironmentValidator struct {
	Authorizer JobAuthorizer
}

// Handle implements admission.Handler.
func (v EnvironmentValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	env := &batonv1alpha1.Environment{}
	if err := json.Unmarshal(req.Object.Raw, env); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode the Environment: %w", err))
	}
	var old *batonv1alpha1.Environment
	if req.Operation == admissionv1.Update && len(req.OldObject.Raw) > 0 {
		old = &batonv1alpha1.Environment{}
		if err := json.Unmarshal(req.OldObject.Raw, old); err != nil {
			return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode the old Environment: %w", err))
		}
	}
	field, ok := changedJobCheck(old, env)
	if !ok {
		return admission.Allowed("")
	}
	allowed, reason, err := v.Authorizer.MayCreate(ctx, req.UserInfo, env.Namespace, "batch", "jobs")
	if err != nil {
		return admission.Errored(http.StatusServiceUnavailable, fmt.Errorf("authorize %s: %w", field, err))
	}
	if !allowed {
		msg := fmt.Sprintf("%s: user %q may not create jobs (group batch) in namespace %s, and a job check runs its Job with Baton's rights; ask for that right, or leave the job check to someone who has it", field, req.UserInfo.Username, env.Namespace)
		if reason != "" {
			msg += " (" + reason + ")"
		}
		return admission.Denied(msg)
	}
	return admission.Allowed("")
}

// changedJobCheck names the first job check of env that old did not have
// with the same job: one added, or one whose job changed. Removing a check,
// or changing anything else about one, runs no new Pod.
func changedJobCheck(old, env *batonv1alpha1.Environment) (string, bool) {
	for i, c := range env.Spec.Verification.Checks {
		if c.Job == nil {
			continue
		}
		if old != nil {
			if prev := findCheck(old.Spec.Verification.Checks, c.Name); prev != nil && reflect.DeepEqual(prev.Job, c.Job) {
				continue
			}
		}
		return fmt.Sprintf("spec.verification.checks[%d].job", i), true
	}
	return "", false
}

func findCheck(checks []batonv1alpha1.VerificationCheck, name string) *batonv1alpha1.VerificationCheck {
	for i := range checks {
		if checks[i].Name == name {
			return &checks[i]
		}
	}
	return nil
}
