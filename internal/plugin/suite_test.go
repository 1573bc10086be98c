package plugin

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
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

// The suite runs kubectl promote's commands in-process, through the real
// kubeconfig flags and clients, against a real kube-apiserver with Baton's
// CRDs, the shipped ClusterRoles and the real admission webhook. Nothing
// runs the Baton controllers: the admin writes Promotion and Environment
// status through the status subresource, as the engine would.
var (
	testEnv     *envtest.Environment
	suiteScheme = runtime.NewScheme()
	admin       client.Client
	stopMgr     context.CancelFunc
	mgrDone     = make(chan struct{})
	kubeconfig  = map[string]string{}
	// userRoles binds each real user to a shipped ClusterRole. carol may
	// patch Promotions but lacks the approve verb, so her approval reaches
	// the webhook; dave is a viewer, so RBAC stops him first.
	userRoles = map[string]string{
		"alice":  "baton-promoter",
		"bob":    "baton-approver",
		"carol":  "baton-promoter",
		"dave":   "baton-viewer",
		"oncall": "baton-rollbacker",
	}
	// workloadReaders may read Deployments in the test namespaces, so that
	// --wait can show their rollout progress; the others may not.
	workloadReaders = []string{"alice", "bob"}
)

func TestPluginAgainstAPIServer(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "kubectl promote suite")
}

var _ = BeforeSuite(func() {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		Fail("KUBEBUILDER_ASSETS is not set: point it at bin/k8s/<version> (make test does)")
	}
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	utilruntime.Must(clientgoscheme.AddToScheme(suiteScheme))
	utilruntime.Must(batonv1alpha1.AddToScheme(suiteScheme))

	root := testenv.RepoRoot()
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		// The shipped webhook configurations, as internal/identity's suite
		// installs them.
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{filepath.Join(root, "config", "webhook")}},
	}
	cfg, err := testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	admin, err = client.New(cfg, client.Options{Scheme: suiteScheme})
	Expect(err).NotTo(HaveOccurred())
	ctx := context.Background()
	keySecret := types.NamespacedName{Namespace: "baton-system", Name: "baton-admission-key"}
	Expect(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: keySecret.Namespace}})).To(Succeed())

	for _, file := range []string{"promoter_role.yaml", "approver_role.yaml", "rollbacker_role.yaml", "viewer_role.yaml"} {
		data, err := os.ReadFile(filepath.Join(root, "config", "rbac", file))
		Expect(err).NotTo(HaveOccurred())
		role := &rbacv1.ClusterRole{}
		Expect(yaml.UnmarshalStrict(data, role)).To(Succeed())
		role.Name = "baton-" + role.Name // config/default's namePrefix
		Expect(admin.Create(ctx, role)).To(Succeed())
	}
	Expect(admin.Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "deployment-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch"}}},
	})).To(Succeed())

	wio := &testEnv.WebhookInstallOptions
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 suiteScheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer: webhook.NewServer(webhook.Options{
			Host: wio.LocalServingHost, Port: wio.LocalServingPort, CertDir: wio.LocalServingCertDir,
		}),
	})
	Expect(err).NotTo(HaveOccurred())
	keys, err := identity.SetupWebhook(mgr, keySecret)
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

	// Each user gets a kubeconfig file, which the plugin reads through its
	// --kubeconfig flag like any kubectl command.
	dir := GinkgoT().TempDir()
	for name := range userRoles {
		u, err := testEnv.AddUser(envtest.User{Name: name, Groups: []string{"developers"}}, nil)
		Expect(err).NotTo(HaveOccurred())
		data, err := u.KubeConfig()
		Expect(err).NotTo(HaveOccurred())
		path := filepath.Join(dir, name+".kubeconfig")
		Expect(os.WriteFile(path, data, 0o600)).To(Succeed())
		kubeconfig[name] = path
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

// newNamespace creates a namespace where each user is bound to their
// ClusterRole.
func newNamespace(ctx context.Context) string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "plugin-"}}
	Expect(admin.Create(ctx, ns)).To(Succeed())
	bind := func(user, role string) {
		Expect(admin.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: fmt.Sprintf("%s-%s", user, role)},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
		})).To(Succeed())
	}
	for user, role := range userRoles {
		bind(user, role)
	}
	for _, user := range workloadReaders {
		bind(user, "deployment-reader")
	}
	return ns.Name
}

// cmdResult is one finished run of kubectl promote.
type cmdResult struct {
	code           int
	stdout, stderr string
}

func (r cmdResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run is `kubectl promote ARGS --kubeconfig <user's> -n ns`, in-process.
func run(user, ns string, args ...string) cmdResult {
	GinkgoHelper()
	out, errOut := gbytes.NewBuffer(), gbytes.NewBuffer()
	code := runWith(newUserOptions(out, errOut, nil), user, ns, args...)
	return cmdResult{code: code, stdout: string(out.Contents()), stderr: string(errOut.Contents())}
}

func newUserOptions(out, errOut io.Writer, clock func() time.Time) *Options {
	o := NewOptions(genericiooptions.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errOut})
	o.RefreshInterval = 200 * time.Millisecond
	if clock != nil {
		o.Now = clock
	}
	return o
}

func runWith(o *Options, user, ns string, args ...string) int {
	path, ok := kubeconfig[user]
	Expect(ok).To(BeTrue(), "no kubeconfig for user %q", user)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	return o.Execute(ctx, append(args, "--kubeconfig", path, "--namespace", ns))
}

// background is a command running in a goroutine, such as one with --wait,
// whose output can be read while it runs.
type background struct {
	stdout, stderr *gbytes.Buffer
	done           chan int
}

func start(user, ns string, args ...string) *background {
	b := &background{stdout: gbytes.NewBuffer(), stderr: gbytes.NewBuffer(), done: make(chan int, 1)}
	o := newUserOptions(b.stdout, b.stderr, nil)
	go func() {
		defer GinkgoRecover()
		b.done <- runWith(o, user, ns, args...)
	}()
	return b
}

// wait returns the exit code once the command has ended.
func (b *background) wait() int {
	GinkgoHelper()
	var code int
	Eventually(b.done).WithTimeout(30*time.Second).Should(Receive(&code), "the command did not end; stdout:\n%s\nstderr:\n%s", b.stdout.Contents(), b.stderr.Contents())
	return code
}

// out is what the command printed so far, for Eventually.
func (b *background) out() string { return string(b.stdout.Contents()) }
