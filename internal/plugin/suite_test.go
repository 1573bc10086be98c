package plugin

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/baton-dev/baton/internal/testenv"
)

// The suite runs kubectl promote's commands in-process, through the real
// kubeconfig flags and clients, against a real kube-apiserver with Baton's
// CRDs, the shipped ClusterRoles and the real admission webhook. Nothing
// runs the Baton controllers: the admin writes Promotion and Environment
// status through the status subresource, as the engine would.
var (
	testEnv     *testenv.WebhookEnv
	suiteScheme *runtime.Scheme
	admin       client.Client
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
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	// Each wait is for a command run against the API server and the
	// webhook; on a busy machine that takes longer than Gomega's 1 s.
	SetDefaultEventuallyTimeout(10 * time.Second)
	var err error
	testEnv, err = testenv.StartWithWebhook()
	Expect(err).NotTo(HaveOccurred())
	suiteScheme, admin = testEnv.Scheme, testEnv.Admin
	Expect(admin.Create(context.Background(), &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "deployment-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch"}}},
	})).To(Succeed())

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
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// newNamespace creates a namespace where each user is bound to their
// ClusterRole.
func newNamespace(ctx context.Context) string {
	GinkgoHelper()
	roles := map[string][]string{}
	for user, role := range userRoles {
		roles[user] = []string{role}
	}
	for _, user := range workloadReaders {
		roles[user] = append(roles[user], "deployment-reader")
	}
	ns, err := testEnv.BindUsers(ctx, "plugin-", roles)
	Expect(err).NotTo(HaveOccurred())
	return ns
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
