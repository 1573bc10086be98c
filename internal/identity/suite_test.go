package identity_test

import (
	"context"
	"io"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/baton-dev/baton/internal/identity"
	"github.com/baton-dev/baton/internal/testenv"
)

var (
	testEnv   *testenv.WebhookEnv
	admin     client.Client
	keys      *identity.KeyStore
	keySecret = testenv.AdmissionKeySecret
	// users are real authenticated users, keyed by name.
	users     = map[string]client.Client{}
	userRoles = map[string]string{
		"alice":   "baton-promoter",
		"bob":     "baton-approver",
		"dave":    "baton-approver",
		"carol":   "baton-viewer",
		"mallory": "baton-promoter",
		"oncall":  "baton-rollbacker",
		// olga also holds baton-breakglass where a spec binds it.
		"olga":   "baton-promoter",
		"frieda": "baton-freezer",
	}
)

func TestIdentity(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Identity webhook suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(io.MultiWriter(GinkgoWriter, logs)), zap.UseDevMode(true)))
	var err error
	testEnv, err = testenv.StartWithWebhook()
	Expect(err).NotTo(HaveOccurred())
	Expect(testEnv.WebhookInstallOptions.MutatingWebhooks).To(HaveLen(1))
	Expect(testEnv.WebhookInstallOptions.ValidatingWebhooks).To(HaveLen(1))
	admin, keys = testEnv.Admin, testEnv.Keys

	for name := range userRoles {
		u, err := testEnv.AddUser(envtest.User{Name: name, Groups: []string{"developers"}}, nil)
		Expect(err).NotTo(HaveOccurred())
		c, err := client.New(u.Config(), client.Options{Scheme: testEnv.Scheme})
		Expect(err).NotTo(HaveOccurred())
		users[name] = c
	}
})

var _ = AfterSuite(func() {
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// logs collects every log line the webhook writes, so that a test can
// prove the key never appears in them.
var logs = &testenv.LockedBuffer{}

// newNamespace creates a namespace where each user is bound to their shipped
// ClusterRole with a RoleBinding.
func newNamespace(ctx context.Context) string {
	GinkgoHelper()
	roles := map[string][]string{}
	for user, role := range userRoles {
		roles[user] = []string{role}
	}
	ns, err := testEnv.BindUsers(ctx, "identity-", roles)
	Expect(err).NotTo(HaveOccurred())
	return ns
}
