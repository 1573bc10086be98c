package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/baton-dev/baton/internal/remote"
	"github.com/baton-dev/baton/internal/testenv"
)

var (
	// testEnv is the control plane every spec in this package shares.
	testEnv *testenv.Env
	// k8sClient is direct and uncached: assertions see the API server.
	k8sClient client.Client
	// fakeClock is the reconciler's "now"; specs step it to run the soak.
	fakeClock *clocktesting.FakeClock
	cancel    context.CancelFunc
	// suiteClusters are the remote clusters' caches.
	suiteClusters *remote.Clusters
	// suiteStart is the fake clock's start, on a whole second.
	suiteStart = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controllers suite")
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	SetDefaultEventuallyTimeout(20 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)

	var err error
	testEnv, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8sClient = testEnv.Client

	mgr, err := ctrl.NewManager(testEnv.Config, ctrl.Options{
		Scheme:  scheme.Scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   CacheOptions(),
	})
	Expect(err).NotTo(HaveOccurred())
	fakeClock = clocktesting.NewFakeClock(suiteStart)
	Expect(SetupIndexes(context.Background(), mgr)).To(Succeed())
	// The Environment reconciler runs for the whole suite: every spec,
	// the Promotion engine's included, relies on it to keep status current.
	// Remote clusters (spec.cluster) are served by one set of caches, as
	// in the manager: the Environment reconciler's, which direct delivery
	// shares (startPromotionManager).
	suiteClusters = NewClusters(mgr, false)
	suiteClusters.SyncTimeout = 10 * time.Second
	suiteClusters.NotifyPromotion = remoteJobWakes.notify
	Expect((&EnvironmentReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("environment-controller"),
		Clock:    fakeClock,
		Clusters: suiteClusters,
	}).SetupWithManager(mgr)).To(Succeed())

	var ctx context.Context
	ctx, cancel = context.WithCancel(context.Background())
	go func() {
		defer GinkgoRecover()
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
})

func newNamespace(ctx context.Context) string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "env-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})
