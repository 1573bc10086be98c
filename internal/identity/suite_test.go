package identity_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/yaml"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/identity"
	"github.com/baton-dev/baton/internal/testenv"
)

var (
	testEnv   *envtest.Environment
	scheme    = runtime.NewScheme()
	admin     client.Client
	keys      *identity.KeyStore
	keySecret = types.NamespacedName{Namespace: "baton-system", Name: "baton-admission-key"}
	// users are real authenticated users, keyed by name.
	users     = map[string]client.Client{}
	stopMgr   context.CancelFunc
	mgrDone   = make(chan struct{})
	userRoles = map[string]string{
		"alice":   "baton-promoter",
		"bob":     "baton-approver",
		"dave":    "baton-approver",
		"carol":   "baton-viewer",
		"mallory": "baton-promoter",
		"oncall":  "baton-rollbacker",
	}
)

func TestIdentity(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Identity webhook suite")
}

var _ = BeforeSuite(func() {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		Fail("KUBEBUILDER_ASSETS is not set: point it at bin/k8s/<version> (make test does)")
	}
	logf.SetLogger(zap.New(zap.WriteTo(io.MultiWriter(GinkgoWriter, logs)), zap.UseDevMode(true)))
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(batonv1alpha1.AddToScheme(scheme))

	root := testenv.RepoRoot()
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		// Exactly what ships: the generated configurations, matchConditions
		// included. envtest only points clientConfig at the local server.
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{filepath.Join(root, "config", "webhook")}},
	}
	cfg, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	Expect(testEnv.WebhookInstallOptions.MutatingWebhooks).To(HaveLen(1))
	Expect(testEnv.WebhookInstallOptions.ValidatingWebhooks).To(HaveLen(1))

	admin, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	ctx := context.Background()
	Expect(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: keySecret.Namespace}})).To(Succeed())

	// The shipped ClusterRoles, named as config/default's namePrefix names them.
	for _, file := range []string{"promoter_role.yaml", "approver_role.yaml", "rollbacker_role.yaml", "viewer_role.yaml"} {
		role := readClusterRole(filepath.Join(root, "config", "rbac", file))
		role.Name = "baton-" + role.Name
		Expect(admin.Create(ctx, role)).To(Succeed())
	}

	wio := &testEnv.WebhookInstallOptions
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer: webhook.NewServer(webhook.Options{
			Host: wio.LocalServingHost, Port: wio.LocalServingPort, CertDir: wio.LocalServingCertDir,
		}),
	})
	Expect(err).NotTo(HaveOccurred())
	keys, err = identity.SetupWebhook(mgr, keySecret)
	Expect(err).NotTo(HaveOccurred())

	mgrCtx, cancel := context.WithCancel(context.Background())
	stopMgr = cancel
	go func() {
		defer GinkgoRecover()
		defer close(mgrDone)
		Expect(mgr.Start(mgrCtx)).To(Succeed())
	}()

	addr := net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort))
	Eventually(func() error {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // readiness probe only
		if err != nil {
			return err
		}
		return conn.Close()
	}).WithTimeout(20 * time.Second).Should(Succeed())
	Eventually(func() error { _, err := keys.Key(ctx); return err }).WithTimeout(10 * time.Second).Should(Succeed())

	for name := range userRoles {
		u, err := testEnv.AddUser(envtest.User{Name: name, Groups: []string{"developers"}}, nil)
		Expect(err).NotTo(HaveOccurred())
		c, err := client.New(u.Config(), client.Options{Scheme: scheme})
		Expect(err).NotTo(HaveOccurred())
		users[name] = c
	}
})

var _ = AfterSuite(func() {
	if stopMgr != nil {
		stopMgr()
		<-mgrDone
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// lockedBuffer collects every log line the webhook writes, so that a test
// can prove the key never appears in them.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var logs = &lockedBuffer{}

func readClusterRole(path string) *rbacv1.ClusterRole {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	role := &rbacv1.ClusterRole{}
	Expect(yaml.UnmarshalStrict(data, role)).To(Succeed())
	Expect(role.Kind).To(Equal("ClusterRole"), "%s", path)
	return role
}

// newNamespace creates a namespace where each user is bound to their shipped
// ClusterRole with a RoleBinding.
func newNamespace(ctx context.Context) string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "identity-"}}
	Expect(admin.Create(ctx, ns)).To(Succeed())
	for user, role := range userRoles {
		Expect(admin.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: fmt.Sprintf("%s-%s", user, role)},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
		})).To(Succeed())
	}
	return ns.Name
}
