package dashboard

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/baton-dev/baton/internal/testenv"
)

// The suite serves the dashboard's handlers as real users, against a real
// kube-apiserver with Baton's CRDs, the shipped ClusterRoles and the real
// admission webhook. Nothing runs the controllers: the admin writes status
// as the engine would.
var (
	testEnv *testenv.WebhookEnv
	admin   client.Client
	users   = map[string]*rest.Config{}
	// userRoles binds each real user to a shipped ClusterRole.
	userRoles = map[string][]string{
		"alice":  {"baton-promoter"},
		"bob":    {"baton-approver"},
		"carol":  {"baton-viewer"},
		"oncall": {"baton-rollbacker"},
	}
)

func TestDashboardAgainstAPIServer(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "dashboard suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	SetDefaultEventuallyTimeout(10 * time.Second)
	var err error
	testEnv, err = testenv.StartWithWebhook()
	Expect(err).NotTo(HaveOccurred())
	admin = testEnv.Admin
	for name := range userRoles {
		u, err := testEnv.AddUser(envtest.User{Name: name, Groups: []string{"developers"}}, nil)
		Expect(err).NotTo(HaveOccurred())
		users[name] = u.Config()
	}
})

var _ = AfterSuite(func() {
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

func newNamespace(ctx context.Context) string {
	GinkgoHelper()
	ns, err := testEnv.BindUsers(ctx, "dashboard-", userRoles)
	Expect(err).NotTo(HaveOccurred())
	return ns
}
