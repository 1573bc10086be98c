package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/window"
)

// DeployWindowPath is the DeployWindow webhook's path.
const DeployWindowPath = "/validate-promotion-baton-dev-v1alpha1-deploywindow"

// The schema cannot read a cron expression, an RRULE or a time zone; this
// webhook does, with the same parser the engine uses, so a window is
// refused with the field named instead of holding Promotions later.
//
// +kubebuilder:webhook:path=/validate-promotion-baton-dev-v1alpha1-deploywindow,mutating=false,failurePolicy=fail,sideEffects=None,groups=promotion.baton.dev,resources=deploywindows,verbs=create;update,versions=v1alpha1,name=vdeploywindow.promotion.baton.dev,admissionReviewVersions=v1,timeoutSeconds=10

// DeployWindowValidator is the DeployWindow webhook.
type DeployWindowValidator struct{}

// Handle implements admission.Handler.
func (DeployWindowValidator) Handle(_ context.Context, req admission.Request) admission.Response {
	w := &batonv1alpha1.DeployWindow{}
	if err := json.Unmarshal(req.Object.Raw, w); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode the DeployWindow: %w", err))
	}
	if _, errs := window.Parse(w.Spec); len(errs) > 0 {
		return admission.Denied(errs.ToAggregate().Error())
	}
	return admission.Allowed("")
}
