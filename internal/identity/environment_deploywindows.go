package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/window"
)

// EnvironmentWindowsPath is the path of the webhook that warns about an
// Environment whose spec.deployWindows selects no DeployWindow.
const EnvironmentWindowsPath = "/warn-promotion-baton-dev-v1alpha1-environment-windows"

// A name or selector in spec.deployWindows that finds no DeployWindow holds
// every Promotion (WindowNotFound): a missing deny window must never let a
// deploy through. Refusing such an Environment would break the usual GitOps
// order, where the Environment may be applied before its window; so this
// webhook admits it and answers with a warning, which kubectl prints at
// once, naming the field. It only ever warns: failurePolicy Ignore, and the
// matchCondition calls it only for an Environment with spec.deployWindows.
//
// +kubebuilder:webhook:path=/warn-promotion-baton-dev-v1alpha1-environment-windows,mutating=false,failurePolicy=ignore,sideEffects=None,groups=promotion.baton.dev,resources=environments,verbs=create;update,versions=v1alpha1,name=wenvironment-windows.promotion.baton.dev,admissionReviewVersions=v1,timeoutSeconds=5,patch=`{"matchConditions":[{"name":"has-deploy-windows","expression":"has(object.spec.deployWindows)"}]}`

// EnvironmentWindowsWarner is the webhook that warns about an Environment
// whose spec.deployWindows finds no DeployWindow. It never refuses.
type EnvironmentWindowsWarner struct {
	// Reader lists the DeployWindows of the Environment's namespace.
	Reader client.Reader
}

// Handle implements admission.Handler.
func (w EnvironmentWindowsWarner) Handle(ctx context.Context, req admission.Request) admission.Response {
	env := &batonv1alpha1.Environment{}
	if err := json.Unmarshal(req.Object.Raw, env); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode the Environment: %w", err))
	}
	if env.Spec.DeployWindows == nil {
		return admission.Allowed("")
	}
	var windows batonv1alpha1.DeployWindowList
	if err := w.Reader.List(ctx, &windows, client.InNamespace(req.Namespace)); err != nil {
		return admission.Allowed("").WithWarnings(fmt.Sprintf("spec.deployWindows: Baton could not list the DeployWindows of namespace %s to check them: %v", req.Namespace, err))
	}
	env.Namespace = req.Namespace
	if _, missing := window.Select(env, windows.Items); missing != "" {
		return admission.Allowed("").WithWarnings(missing + "; until then every Promotion here waits Queued with reason WindowNotFound")
	}
	return admission.Allowed("")
}
