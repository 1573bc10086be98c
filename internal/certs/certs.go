package certs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

// Options names everything the rotation touches. The defaults in
// cmd/manager match the names config/default renders.
type Options struct {
	// Namespace is the manager's namespace: the Secret and the Service live there.
	Namespace string
	// SecretName is the Secret holding ca.crt, ca.key, tls.crt and tls.key.
	// The Deployment mounts it at CertDir; it must exist before the manager
	// starts (config/webhook ships it empty).
	SecretName string
	// ServiceName is the webhook Service; the serving certificate is issued
	// for <ServiceName>.<Namespace>.svc, the name the API server verifies.
	ServiceName string
	// CertDir is where the webhook server reads tls.crt and tls.key: the
	// mount point of the Secret.
	CertDir string
	// MutatingWebhookConfiguration and ValidatingWebhookConfiguration receive
	// the CA bundle. Empty names are skipped.
	MutatingWebhookConfiguration   string
	ValidatingWebhookConfiguration string
	// ControllerName names the CA injection controller; controller names
	// are unique per process. Empty means cert-controller's default, which
	// is right for the one rotation a manager process runs.
	ControllerName string
}

// DNSName is the host name the API server dials, and verifies, for a
// webhook that names a Service.
func DNSName(service, namespace string) string {
	return service + "." + namespace + ".svc"
}

// Rotation is the self-managed serving certificate of one manager replica.
type Rotation struct {
	rotator *rotator.CertRotator
	ready   chan struct{}
}

// New validates the options and prepares a Rotation. Call WebhookServer
// before building the manager and AddToManager after.
func New(o Options) (*Rotation, error) {
	switch {
	case o.Namespace == "":
		return nil, errors.New("certificate rotation needs the manager's namespace (set POD_NAMESPACE)")
	case o.SecretName == "", o.ServiceName == "", o.CertDir == "":
		return nil, errors.New("certificate rotation needs the Secret, the Service and the certificate directory")
	}
	ready := make(chan struct{})
	var hooks []rotator.WebhookInfo
	if o.MutatingWebhookConfiguration != "" {
		hooks = append(hooks, rotator.WebhookInfo{Name: o.MutatingWebhookConfiguration, Type: rotator.Mutating})
	}
	if o.ValidatingWebhookConfiguration != "" {
		hooks = append(hooks, rotator.WebhookInfo{Name: o.ValidatingWebhookConfiguration, Type: rotator.Validating})
	}
	dns := DNSName(o.ServiceName, o.Namespace)
	return &Rotation{ready: ready, rotator: &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: o.Namespace, Name: o.SecretName},
		CertDir:        o.CertDir,
		CAName:         "baton-webhook-ca",
		CAOrganization: "baton",
		DNSName:        dns,
		ExtraDNSNames:  []string{dns + ".cluster.local"},
		IsReady:        ready,
		Webhooks:       hooks,
		FieldOwner:     "baton-cert-rotator",
		ControllerName: o.ControllerName,
		// Every replica serves the webhook, so every replica must see a
		// valid certificate without waiting to be elected. Concurrent
		// writers are safe: each writes the Secret with the resourceVersion
		// it read, so one CA wins, the others get a Conflict, read the
		// winner's Secret and find nothing left to do.
		RequireLeaderElection: false,
		// Inject the CA only once this replica can serve with the
		// certificate, so the API server never trusts a CA nobody serves.
		EnableReadinessCheck: true,
	}}, nil
}

// AddToManager adds the rotator, its Secret cache and its CA injection
// controller to the manager.
func (r *Rotation) AddToManager(mgr ctrl.Manager) error {
	if err := rotator.AddRotator(mgr, r.rotator); err != nil {
		return fmt.Errorf("add the webhook certificate rotator: %w", err)
	}
	return nil
}

// Ready is closed once the certificate is in CertDir and the CA bundle is
// in every webhook configuration.
func (r *Rotation) Ready() <-chan struct{} { return r.ready }

// Checker is a readiness check that fails until Ready is closed, so that the
// webhook Service sends admission requests only to replicas that can serve
// them.
func (r *Rotation) Checker(_ *http.Request) error {
	select {
	case <-r.ready:
		return nil
	default:
		return errors.New("the webhook serving certificate is not ready yet")
	}
}

// WebhookServer wraps the manager's webhook server so that it starts
// listening only once the certificate files exist: controller-runtime's
// server fails at start-up when tls.crt is missing, which it is until the
// kubelet projects the freshly written Secret into the pod.
func (r *Rotation) WebhookServer(inner webhook.Server) webhook.Server {
	return &waitingServer{Server: inner, ready: r.ready}
}

type waitingServer struct {
	webhook.Server
	ready <-chan struct{}
}

// Start waits for the certificate, then runs the wrapped server.
func (s *waitingServer) Start(ctx context.Context) error {
	select {
	case <-s.ready:
		return s.Server.Start(ctx)
	case <-ctx.Done():
		return nil
	}
}

// DefaultCertDir is controller-runtime's default webhook certificate
// directory, used when --webhook-cert-dir is empty.
func DefaultCertDir() string {
	return filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs")
}
