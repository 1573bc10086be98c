package testenv

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/yaml"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/certs"
	"github.com/baton-dev/baton/internal/identity"
	"github.com/baton-dev/baton/internal/remote"
)

// AdmissionKeySecret is where WebhookEnv's webhook keeps its key.
var AdmissionKeySecret = types.NamespacedName{Namespace: "baton-system", Name: "baton-admission-key"}

// UserRoleFiles are the shipped ClusterRoles for people, in config/rbac.
var UserRoleFiles = []string{"promoter_role.yaml", "approver_role.yaml", "rollbacker_role.yaml", "viewer_role.yaml",
	"freezer_role.yaml", "breakglass_role.yaml"}

// WebhookEnv is a control plane with Baton's CRDs, exactly the webhook
// configurations and user ClusterRoles that ship in config/, and a manager
// in this process serving the real admission webhook. Nothing runs the
// controllers.
type WebhookEnv struct {
	*envtest.Environment
	// Config authenticates as a cluster admin.
	Config *rest.Config
	// Scheme knows the built-in kinds and Baton's.
	Scheme *runtime.Scheme
	// Admin is a direct, uncached client with the admin's identity.
	Admin client.Client
	// Keys is the webhook's admission key store.
	Keys *identity.KeyStore
	// WebhookClientCA signs the client certificate the API server presents
	// to the webhook; APIServerClient is that certificate. The webhook
	// refuses every caller without it, as a manager started with
	// --webhook-client-ca-file does.
	WebhookClientCA, APIServerClient certs.KeyPair
	// WebhookAddr is the webhook server's host:port.
	WebhookAddr string

	stop      context.CancelFunc
	done      chan error
	clientDir string // the admission configuration and the client CA
}

// StartWithWebhook starts the control plane and the webhook, and returns once
// the webhook answers and its key exists.
func StartWithWebhook() (*WebhookEnv, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run the suites with `make test`")
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := batonv1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	root := RepoRoot()
	e := &WebhookEnv{Scheme: scheme, done: make(chan error, 1), Environment: &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		// Exactly what ships: the generated configurations, matchConditions
		// included. envtest only points clientConfig at the local server.
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{filepath.Join(root, "config", "webhook")}},
	}}
	if err := e.authenticateAPIServer(); err != nil {
		return nil, err
	}
	cfg, err := e.Environment.Start()
	if err != nil {
		return nil, err
	}
	e.Config = cfg
	if err := e.setUp(root); err != nil {
		_ = e.Stop()
		return nil, err
	}
	return e, nil
}

// WebhookClientName is the Common Name of the API server's client
// certificate, the one caller the suites' webhook accepts.
const WebhookClientName = "kube-apiserver-webhook-client"

// authenticateAPIServer fixes the webhook's port before the control plane
// starts, and gives kube-apiserver an admission configuration that presents
// a client certificate to that host:port, the way docs/install.md sets up a
// real cluster.
func (e *WebhookEnv) authenticateAPIServer() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	wio := &e.WebhookInstallOptions
	wio.LocalServingHost, wio.LocalServingPort = "127.0.0.1", port
	e.WebhookAddr = net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(port))
	if e.WebhookClientCA, err = certs.NewCA("baton-webhook-client-ca", 24*time.Hour); err != nil {
		return err
	}
	if e.APIServerClient, err = certs.NewClientCert(e.WebhookClientCA, WebhookClientName, 24*time.Hour); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "baton-admission-")
	if err != nil {
		return err
	}
	e.clientDir = dir
	path, err := certs.WriteAdmissionConfig(dir, e.WebhookAddr, e.APIServerClient)
	if err != nil {
		return err
	}
	e.ControlPlane.GetAPIServer().Configure().Set("admission-control-config-file", path)
	return os.WriteFile(filepath.Join(dir, "client-ca.crt"), e.WebhookClientCA.Cert, 0o600)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (e *WebhookEnv) setUp(root string) error {
	var err error
	if e.Admin, err = client.New(e.Config, client.Options{Scheme: e.Scheme}); err != nil {
		return err
	}
	ctx := context.Background()
	if err := e.Admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: AdmissionKeySecret.Namespace}}); err != nil {
		return err
	}
	for _, file := range UserRoleFiles {
		data, err := os.ReadFile(filepath.Join(root, "config", "rbac", file))
		if err != nil {
			return err
		}
		role := &rbacv1.ClusterRole{}
		if err := yaml.UnmarshalStrict(data, role); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		role.Name = "baton-" + role.Name // config/default's namePrefix
		if err := e.Admin.Create(ctx, role); err != nil {
			return err
		}
	}

	wio := &e.WebhookInstallOptions
	clientAuth, err := certs.ClientAuth(filepath.Join(e.clientDir, "client-ca.crt"), []string{WebhookClientName})
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(e.Config, ctrl.Options{
		Scheme:                 e.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer: webhook.NewServer(webhook.Options{
			Host: wio.LocalServingHost, Port: wio.LocalServingPort, CertDir: wio.LocalServingCertDir,
			TLSOpts: []func(*tls.Config){clientAuth},
		}),
	})
	if err != nil {
		return err
	}
	self, err := identity.NewSelf(mgr)
	if err != nil {
		return err
	}
	if e.Keys, err = identity.SetupWebhook(mgr, AdmissionKeySecret, self,
		&remote.Clusters{Secrets: mgr.GetAPIReader(), Scheme: mgr.GetScheme()}); err != nil {
		return err
	}
	mgrCtx, cancel := context.WithCancel(context.Background())
	e.stop = cancel
	go func() { e.done <- mgr.Start(mgrCtx) }()

	addr := e.WebhookAddr
	client, err := tls.X509KeyPair(e.APIServerClient.Cert, e.APIServerClient.Key)
	if err != nil {
		return err
	}
	return poll(20*time.Second, func() error {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{client}}) //nolint:gosec // readiness probe only
		if err != nil {
			return fmt.Errorf("the webhook server does not answer on %s: %w", addr, err)
		}
		_ = conn.Close()
		_, err = e.Keys.Key(ctx)
		return err
	})
}

// Stop stops the webhook's manager and the control plane.
func (e *WebhookEnv) Stop() error {
	var errs []error
	if e.stop != nil {
		e.stop()
		errs = append(errs, <-e.done)
		e.stop = nil
	}
	errs = append(errs, e.Environment.Stop())
	if e.clientDir != "" {
		errs = append(errs, os.RemoveAll(e.clientDir))
	}
	return errors.Join(errs...)
}

// BindUsers creates a namespace (named from prefix) in which each user is
// bound to the ClusterRole roles names for it.
func (e *WebhookEnv) BindUsers(ctx context.Context, prefix string, roles map[string][]string) (string, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}
	if err := e.Admin.Create(ctx, ns); err != nil {
		return "", err
	}
	for user, rs := range roles {
		for _, role := range rs {
			if err := e.Admin.Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: fmt.Sprintf("%s-%s", user, role)},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
				Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
			}); err != nil {
				return "", err
			}
		}
	}
	return ns.Name, nil
}

// poll calls f until it succeeds or the timeout passes.
func poll(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// PostAdmissionReview posts an AdmissionReview to a webhook URL the way an
// attacker who reaches the port would: straight to it, not through the API
// server, presenting client (no certificate when nil) and trusting roots
// (any server when nil). It returns the answer's body.
func PostAdmissionReview(url string, roots *x509.CertPool, client *certs.KeyPair, body []byte) (string, error) {
	cfg := &tls.Config{RootCAs: roots, InsecureSkipVerify: roots == nil} //nolint:gosec // the attacker does not care who serves
	if client != nil {
		pair, err := tls.X509KeyPair(client.Cert, client.Key)
		if err != nil {
			return "", err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	out, err := io.ReadAll(resp.Body)
	return string(out), err
}
