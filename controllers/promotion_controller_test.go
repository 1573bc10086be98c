package controllers

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/event"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/delivery"
	batongit "github.com/baton-dev/baton/internal/git"
	"github.com/baton-dev/baton/internal/identity"
	"github.com/baton-dev/baton/internal/remote"
	"github.com/baton-dev/baton/internal/source"
	"github.com/baton-dev/baton/internal/testenv"
	"github.com/baton-dev/baton/internal/testing/builder"
	"github.com/baton-dev/baton/internal/workload"
)

// startPromotionManager runs a manager with only the Promotion engine, so a
// test can stop it at will (a crash) and start a fresh one. The
// deliverer wraps the real direct delivery when wrap is not nil.
// tune, when given, changes the manager's options and the engine before
// they start.
func startPromotionManager(wrap func(delivery.Deliverer) delivery.Deliverer, tune ...engineTuning) (stop func()) {
	opts := ctrl.Options{
		Scheme:     scheme.Scheme,
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Cache:      CacheOptions(),
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	}
	for _, t := range tune {
		if t.options != nil {
			t.options(&opts)
		}
	}
	mgr, err := ctrl.NewManager(testEnv.Config, opts)
	Expect(err).NotTo(HaveOccurred())
	var direct delivery.Deliverer = &delivery.Direct{Workloads: &remote.Workloads{
		Local: workload.NewLocal(mgr.GetClient(), mgr.GetAPIReader()), Clusters: suiteClusters}}
	if wrap != nil {
		direct = wrap(direct)
	}
	Expect(SetupIndexes(context.Background(), mgr)).To(Succeed())
	Expect((&AutoPromoteReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("autopromote-controller"),
		Admission: admissionKey,
	}).SetupWithManager(mgr)).To(Succeed())
	Expect((&SourceReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("source-controller"),
		Admission: admissionKey,
		Cache:     &source.Cache{Dir: GinkgoT().TempDir(), Network: batongit.Network{PlainHTTPHosts: []string{"127.0.0.1"}}},
		Clock:     fakeClock,
	}).SetupWithManager(mgr)).To(Succeed())
	engine := &PromotionReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("promotion-controller"),
		Clock:     fakeClock,
		Deliverer: func(*batonv1alpha1.Environment) (delivery.Deliverer, error) { return direct, nil },
		Admission: admissionKey,
		// As in the manager: release Jobs run where the workloads are.
		Jobs:       &remote.Workloads{Local: workload.NewLocal(mgr.GetClient(), mgr.GetAPIReader()), Clusters: suiteClusters},
		RemoteJobs: remoteJobWakes.channel(),
	}
	for _, t := range tune {
		if t.engine != nil {
			t.engine(engine)
		}
	}
	Expect(engine.SetupWithManager(mgr)).To(Succeed())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	return func() { cancel(); <-done }
}

// remoteJobWakes passes the wakes of suiteClusters, whose release Jobs
// changed in a remote cluster, to the engine that runs now: the suite's
// caches outlive each spec's engine (WakeOnRemoteJobs in the manager).
var remoteJobWakes = &wakeRelay{}

type wakeRelay struct {
	mu sync.Mutex
	ch chan event.GenericEvent
}

// channel is a new engine's source; the engine before it gets no more.
func (w *wakeRelay) channel() <-chan event.GenericEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ch = make(chan event.GenericEvent, 1024)
	return w.ch
}

func (w *wakeRelay) notify(nn types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.ch <- event.GenericEvent{Object: &batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Namespace: nn.Namespace, Name: nn.Name}}}:
	default: // an engine that stopped; the next one reads every Promotion
	}
}

// engineTuning changes a test manager before it starts.
type engineTuning struct {
	options func(*ctrl.Options)
	engine  func(*PromotionReconciler)
}

// admissionKey stands for the key Secret: the admission webhook is not part of
// this suite, so specs sign their Promotions with it, as the webhook would.
var admissionKey = staticKey("0123456789abcdef0123456789abcdef")

type staticKey []byte

func (k staticKey) Verify(_ context.Context, promo *batonv1alpha1.Promotion) error {
	return identity.Verify(promo, k)
}

func (k staticKey) Sign(_ context.Context, promo *batonv1alpha1.Promotion) error {
	return identity.SignInto(promo, k)
}

var promotionCount atomic.Int64

// admitted names the Promotion and signs it as the admission webhook would.
func admitted(p *batonv1alpha1.Promotion) *batonv1alpha1.Promotion {
	GinkgoHelper()
	if p.Name == "" {
		p.Name = fmt.Sprintf("%s%d", p.GenerateName, promotionCount.Add(1))
		p.GenerateName = ""
	}
	Expect(identity.SignInto(p, admissionKey)).To(Succeed())
	return p
}

// crashBeforeDeliver stands for a manager killed right after it wrote its
// intent: it stops the manager instead of delivering.
// Only Promotions in namespace crash: a fresh manager also picks up what
// earlier specs left behind, and those must not fake the crash.
type crashBeforeDeliver struct {
	delivery.Deliverer
	namespace string
	crash     func()
	crashed   atomic.Bool
}

func (c *crashBeforeDeliver) Deliver(ctx context.Context, req delivery.Request) (delivery.Record, error) {
	if req.Promotion.Namespace != c.namespace {
		return c.Deliverer.Deliver(ctx, req)
	}
	if c.crashed.Swap(true) {
		<-ctx.Done()
		return delivery.Record{}, ctx.Err()
	}
	go c.crash()
	<-ctx.Done()
	return delivery.Record{}, ctx.Err()
}

// stage is a namespace with a staging and a production Environment, each
// running a Deployment "web" that has rolled out completely.
type stage struct {
	ns                  string
	stagingDep, prodDep *appsv1.Deployment
	staging, production *batonv1alpha1.Environment
}

func newStage(ctx context.Context, prodImage string, tune func(prod *batonv1alpha1.Environment)) *stage {
	GinkgoHelper()
	s := &stage{ns: newNamespace(ctx)}
	s.stagingDep = builder.Deployment(s.ns, "web-staging").Replicas(2).Container("web", "registry.example.com/web:1").Build()
	s.prodDep = builder.Deployment(s.ns, "web-production").Replicas(2).Container("web", prodImage).Build()
	for _, d := range []*appsv1.Deployment{s.stagingDep, s.prodDep} {
		Expect(k8sClient.Create(ctx, d)).To(Succeed())
		Expect(testenv.RolloutComplete(ctx, k8sClient, d)).To(Succeed())
	}
	s.staging = builder.Environment(s.ns, "staging").Deployment("web-staging", "web").Direct().SoakTime(0).Build()
	s.production = builder.Environment(s.ns, "production").Upstream("staging").Deployment("web-production", "web").Direct().SoakTime(0).Build()
	if tune != nil {
		tune(s.production)
	}
	Expect(k8sClient.Create(ctx, s.staging)).To(Succeed())
	Expect(k8sClient.Create(ctx, s.production)).To(Succeed())
	expectAdopted(ctx, s.staging, s.production)
	return s
}

// expectAdopted waits until each Environment adopted what runs as
// revision 1.
func expectAdopted(ctx context.Context, envs ...*batonv1alpha1.Environment) {
	GinkgoHelper()
	for _, e := range envs {
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(e), e)).To(Succeed())
			g.Expect(e.Status.History).To(HaveLen(1), "the running image is adopted as revision 1; conditions: %+v", e.Status.Conditions)
		}).Should(Succeed())
	}
}

// shipToStaging promotes image into staging and plays its rollout, so that
// staging verifies it.
func (s *stage) shipToStaging(ctx context.Context, image string) {
	GinkgoHelper()
	p := s.promotion(ctx, "staging", "to-staging-", image, nil)
	s.completeRollout(ctx, s.stagingDep, image)
	expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.staging), s.staging)).To(Succeed())
		g.Expect(verifiedImages(s.staging)).To(ContainElement(image))
	}).Should(Succeed())
}

func verifiedImages(env *batonv1alpha1.Environment) []string {
	var out []string
	for _, v := range env.Status.VerifiedImages {
		out = append(out, v.Image)
	}
	return out
}

// promotion creates a Promotion as alice would (the admission webhook is not
// part of this suite, so requestedBy is written directly).
func (s *stage) promotion(ctx context.Context, env, prefix, image string, rollback *batonv1alpha1.RollbackSpec) *batonv1alpha1.Promotion {
	GinkgoHelper()
	p := builder.Promotion(s.ns, "").GenerateName(prefix).Environment(env).Image(image).RequestedBy("alice").Build()
	p.Spec.Rollback = rollback
	Expect(k8sClient.Create(ctx, admitted(p))).To(Succeed())
	return p
}

// completeRollout waits until the workload carries image, then plays the
// Deployment controller finishing the rollout.
func (s *stage) completeRollout(ctx context.Context, d *appsv1.Deployment, image string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
		g.Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal(image))
	}).Should(Succeed())
	Expect(testenv.RolloutComplete(ctx, k8sClient, d)).To(Succeed())
}

func expectPhase(ctx context.Context, p *batonv1alpha1.Promotion, phase batonv1alpha1.PromotionPhase) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
		g.Expect(p.Status.Phase).To(Equal(phase), "conditions: %+v", p.Status.Conditions)
	}).Should(Succeed())
}

func readyReason(p *batonv1alpha1.Promotion) string {
	if c := apimeta.FindStatusCondition(p.Status.Conditions, batonv1alpha1.ReadyCondition); c != nil {
		return c.Reason
	}
	return ""
}

func readyMessage(p *batonv1alpha1.Promotion) string {
	if c := apimeta.FindStatusCondition(p.Status.Conditions, batonv1alpha1.ReadyCondition); c != nil {
		return c.Message
	}
	return ""
}

func historyOf(ctx context.Context, env *batonv1alpha1.Environment) []batonv1alpha1.Revision {
	GinkgoHelper()
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(env), env)).To(Succeed())
	return env.Status.History
}

func imageOf(ctx context.Context, d *appsv1.Deployment) string {
	GinkgoHelper()
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
	return d.Spec.Template.Spec.Containers[0].Image
}

var _ = Describe("The Promotion engine", func() {
	var (
		ctx  context.Context
		stop func()
	)
	BeforeEach(func() {
		ctx = context.Background()
	})
	AfterEach(func() {
		if stop != nil {
			stop()
			stop = nil
		}
	})

	Context("with a running engine", func() {
		BeforeEach(func() { stop = startPromotionManager(nil) })

		It("promotes staging's verified image to production and records the revision", func() {
			s := newStage(ctx, "registry.example.com/web:1", nil)
			s.shipToStaging(ctx, "registry.example.com/web:2")

			p := s.promotion(ctx, "production", "to-prod-", "", nil)
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
				g.Expect(p.Status.Image).To(Equal("registry.example.com/web:2"), "the newest verified staging image")
				g.Expect(p.Status.Phase).To(Equal(batonv1alpha1.PromotionRollingOut))
			}).Should(Succeed())
			Expect(p.Status.PreviousImage).To(Equal("registry.example.com/web:1"))
			Expect(p.Status.Patch).To(ContainSubstring("server-side apply by baton"))

			s.completeRollout(ctx, s.prodDep, "registry.example.com/web:2")
			expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
			Expect(readyReason(p)).To(Equal(batonv1alpha1.SucceededReason))

			history := historyOf(ctx, s.production)
			Expect(history).To(HaveLen(2))
			Expect(history[1].Revision).To(Equal(int64(2)))
			Expect(history[1].Image).To(Equal("registry.example.com/web:2"))
			Expect(history[1].Promotion.Name).To(Equal(p.Name))
			Expect(history[1].RequestedBy).To(Equal("alice"))
			Expect(history[1].Result).To(Equal(batonv1alpha1.RevisionSucceeded))
			Expect(history[1].FinishedAt).NotTo(BeNil())
			Expect(s.production.Status.ActivePromotion).To(BeNil(), "the lease is released")
			Expect(s.production.Status.Current.Revision).To(Equal(int64(2)))

			By("owning only the image field as field manager baton")
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.prodDep), s.prodDep)).To(Succeed())
			Expect(batonManagedFields(s.prodDep)).To(HaveLen(1))
		})

		It("promotes an older verified image after staging moved on", func() {
			s := newStage(ctx, "registry.example.com/web:0", nil)
			s.shipToStaging(ctx, "registry.example.com/web:2")
			Expect(verifiedImages(s.staging)).To(ContainElement("registry.example.com/web:1"), "adopted and verified before it moved on")

			p := s.promotion(ctx, "production", "older-", "registry.example.com/web:1", nil)
			s.completeRollout(ctx, s.prodDep, "registry.example.com/web:1")
			expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
			Expect(p.Status.Image).To(Equal("registry.example.com/web:1"))
		})

		It("runs three queued Promotions one at a time, in creation order", func() {
			s := newStage(ctx, "registry.example.com/web:0", nil)
			s.shipToStaging(ctx, "registry.example.com/web:2")
			s.shipToStaging(ctx, "registry.example.com/web:3")

			images := []string{"registry.example.com/web:1", "registry.example.com/web:2", "registry.example.com/web:3"}
			var promos []*batonv1alpha1.Promotion
			for i, img := range images {
				p := builder.Promotion(s.ns, fmt.Sprintf("queued-%d", i)).Environment("production").Image(img).Build()
				Expect(k8sClient.Create(ctx, admitted(p))).To(Succeed())
				promos = append(promos, p)
			}
			for i, p := range promos {
				expectPhase(ctx, p, batonv1alpha1.PromotionRollingOut)
				for _, later := range promos[i+1:] {
					Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(later), later)).To(Succeed())
					Expect(later.Status.Phase).NotTo(BeElementOf(batonv1alpha1.PromotionPromoting, batonv1alpha1.PromotionRollingOut),
						"%s started while %s held the lease", later.Name, p.Name)
				}
				s.completeRollout(ctx, s.prodDep, images[i])
				expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
			}
			history := historyOf(ctx, s.production)
			Expect(history).To(HaveLen(4))
			for i, p := range promos {
				Expect(history[i+1].Promotion.Name).To(Equal(p.Name))
				Expect(history[i+1].Revision).To(Equal(int64(i + 2)))
				Expect(history[i+1].Result).To(Equal(batonv1alpha1.RevisionSucceeded))
			}
		})

		It("lets exactly one of two Promotions created in the same second take the lease", func() {
			s := newStage(ctx, "registry.example.com/web:0", nil)
			// Suspended, both reach the queue before either may start, so the
			// order between them is the queue's: creationTimestamp, then name.
			s.updateProduction(ctx, func(e *batonv1alpha1.Environment) { e.Spec.Suspend = true })
			// Created first, but second in name order.
			a := builder.Promotion(s.ns, "same-second-b").Environment("production").Image("registry.example.com/web:1").Build()
			b := builder.Promotion(s.ns, "same-second-a").Environment("production").Image("registry.example.com/web:1").Build()
			Expect(k8sClient.Create(ctx, admitted(a))).To(Succeed())
			Expect(k8sClient.Create(ctx, admitted(b))).To(Succeed())
			for _, p := range []*batonv1alpha1.Promotion{a, b} {
				Eventually(func(g Gomega) {
					g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
					g.Expect(p.Status.Phase).To(Equal(batonv1alpha1.PromotionQueued))
					g.Expect(readyReason(p)).To(Equal(batonv1alpha1.SuspendedReason))
				}).Should(Succeed())
			}
			s.updateProduction(ctx, func(e *batonv1alpha1.Environment) { e.Spec.Suspend = false })

			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), s.production)).To(Succeed())
				g.Expect(s.production.Status.ActivePromotion).NotTo(BeNil())
			}).Should(Succeed())
			holder := s.production.Status.ActivePromotion.Name
			// Both were judged under the lease: the holder delivered, and the
			// other one waits for it by name.
			Eventually(func(g Gomega) {
				for _, p := range []*batonv1alpha1.Promotion{a, b} {
					g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
					if p.Name == holder {
						g.Expect(p.Status.Phase).To(Equal(batonv1alpha1.PromotionRollingOut))
						continue
					}
					g.Expect(readyReason(p)).To(Equal(batonv1alpha1.QueuedReason))
					g.Expect(readyMessage(p)).To(ContainSubstring(holder))
				}
			}).Should(Succeed())
			Consistently(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(a), a)).To(Succeed())
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(b), b)).To(Succeed())
				started := 0
				for _, p := range []*batonv1alpha1.Promotion{a, b} {
					if p.Status.Phase == batonv1alpha1.PromotionPromoting || p.Status.Phase == batonv1alpha1.PromotionRollingOut {
						started++
						g.Expect(p.Name).To(Equal(holder))
					}
				}
				g.Expect(started).To(BeNumerically("<=", 1))
			}, "2s", "100ms").Should(Succeed())
			want := a.Name
			if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
				want = "same-second-a" // same second: the name decides
			}
			Expect(holder).To(Equal(want))
		})

		It("fails a rollout that does not complete within rollout.timeout", func() {
			s := newStage(ctx, "registry.example.com/web:0", func(prod *batonv1alpha1.Environment) {
				prod.Spec.Rollout.Timeout = &metav1.Duration{Duration: time.Hour}
			})
			p := s.promotion(ctx, "production", "slow-", "registry.example.com/web:1", nil)
			expectPhase(ctx, p, batonv1alpha1.PromotionRollingOut)
			Expect(testenv.RolloutProgressing(ctx, k8sClient, s.prodDep)).To(Succeed())

			fakeClock.Step(2 * time.Hour)
			pokeEnvironment(ctx, s.production)
			expectPhase(ctx, p, batonv1alpha1.PromotionFailed)
			Expect(readyReason(p)).To(Equal(batonv1alpha1.RolloutTimeoutReason))
			Expect(readyMessage(p)).To(ContainSubstring("spec.rollout.timeout (1h0m0s)"))
			history := historyOf(ctx, s.production)
			Expect(history[len(history)-1].Result).To(Equal(batonv1alpha1.RevisionFailed))
			Expect(s.production.Status.ActivePromotion).To(BeNil())
		})

		It("fails a rollout that exceeds its progress deadline, with the workload's message", func() {
			s := newStage(ctx, "registry.example.com/web:0", nil)
			p := s.promotion(ctx, "production", "broken-", "registry.example.com/web:1", nil)
			expectPhase(ctx, p, batonv1alpha1.PromotionRollingOut)
			Expect(testenv.RolloutFailed(ctx, k8sClient, s.prodDep, `ReplicaSet "web-production-7f9c" has timed out progressing.`)).To(Succeed())
			expectPhase(ctx, p, batonv1alpha1.PromotionFailed)
			Expect(readyReason(p)).To(Equal(batonv1alpha1.RolloutFailedReason))
			Expect(readyMessage(p)).To(ContainSubstring(`has timed out progressing`))
		})

		It("succeeds without a patch when the target already runs the image", func() {
			s := newStage(ctx, "registry.example.com/web:1", nil)
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.prodDep), s.prodDep)).To(Succeed())
			generation := s.prodDep.Generation
			p := s.promotion(ctx, "production", "same-", "registry.example.com/web:1", nil)
			expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
			Expect(readyReason(p)).To(Equal(batonv1alpha1.AlreadyAtImageReason))
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.prodDep), s.prodDep)).To(Succeed())
			Expect(s.prodDep.Generation).To(Equal(generation), "nothing was patched")
			history := historyOf(ctx, s.production)
			Expect(history[len(history)-1].Result).To(Equal(batonv1alpha1.RevisionAlreadyAtImage))
		})

		It("keeps the history entry of a Promotion deleted while it rolls out", func() {
			s := newStage(ctx, "registry.example.com/web:0", nil)
			p := s.promotion(ctx, "production", "deleted-", "registry.example.com/web:1", nil)
			expectPhase(ctx, p, batonv1alpha1.PromotionRollingOut)
			Expect(k8sClient.Delete(ctx, p)).To(Succeed())
			Eventually(func() bool {
				return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p))
			}).Should(BeTrue())
			history := historyOf(ctx, s.production)
			Expect(history).To(HaveLen(2))
			Expect(history[1].Result).To(Equal(batonv1alpha1.RevisionFailed))
			Expect(history[1].Message).To(ContainSubstring("was deleted while RollingOut"))
			Expect(s.production.Status.ActivePromotion).To(BeNil())
		})
	})

	It("patches the target once and records one revision across a crash after the intent write", func() {
		s := newStage(ctx, "registry.example.com/web:0", nil)
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.prodDep), s.prodDep)).To(Succeed())
		generation := s.prodDep.Generation

		crashed := make(chan struct{})
		var crasher *crashBeforeDeliver
		stopFirst := startPromotionManager(func(d delivery.Deliverer) delivery.Deliverer {
			crasher = &crashBeforeDeliver{Deliverer: d, namespace: s.ns, crash: func() { close(crashed) }}
			return crasher
		})
		p := s.promotion(ctx, "production", "crash-", "registry.example.com/web:1", nil)
		Eventually(crashed).Should(BeClosed())
		stopFirst()

		By("the intent is on record, and nothing was patched")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
		Expect(p.Status.Phase).To(Equal(batonv1alpha1.PromotionPromoting))
		Expect(p.Status.Revision).To(Equal(int64(2)))
		Expect(imageOf(ctx, s.prodDep)).To(Equal("registry.example.com/web:0"))

		By("a fresh manager finishes the job")
		stop = startPromotionManager(nil)
		s.completeRollout(ctx, s.prodDep, "registry.example.com/web:1")
		expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)

		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.prodDep), s.prodDep)).To(Succeed())
		Expect(s.prodDep.Generation).To(Equal(generation+1), "exactly one change of the Deployment's spec")
		history := historyOf(ctx, s.production)
		Expect(history).To(HaveLen(2), "one revision for the Promotion, beside the adopted one")
		Expect(history[1].Promotion.UID).To(Equal(string(p.UID)))
		Expect(history[1].Result).To(Equal(batonv1alpha1.RevisionSucceeded))
	})
})

// pokeEnvironment touches an Environment's labels so that the engine looks at
// its Promotions again, as any status change would.
func pokeEnvironment(ctx context.Context, env *batonv1alpha1.Environment) {
	GinkgoHelper()
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(env), env)).To(Succeed())
	base := env.DeepCopy()
	if env.Labels == nil {
		env.Labels = map[string]string{}
	}
	env.Labels["poked"] = fmt.Sprint(time.Now().UnixNano())
	Expect(k8sClient.Patch(ctx, env, client.MergeFrom(base))).To(Succeed())
}

func batonManagedFields(d *appsv1.Deployment) []metav1.ManagedFieldsEntry {
	var out []metav1.ManagedFieldsEntry
	for _, mf := range d.ManagedFields {
		if mf.Manager == delivery.DefaultFieldManager {
			out = append(out, mf)
		}
	}
	return out
}
