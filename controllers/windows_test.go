package controllers

import (
	"context"
	"time"

	"github.com/fluxcd/pkg/gittestserver"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/identity"
	"github.com/baton-dev/baton/internal/testing/builder"
)

// VerifyFreeze lets the suite's static key stand for the webhook's seal on
// freezes too.
func (k staticKey) VerifyFreeze(_ context.Context, kind, namespace, name string, spec batonv1alpha1.FreezeSpec, seal string) error {
	return identity.VerifyFreeze(kind, namespace, name, spec, seal, k)
}

// withFreezeSeals gives the engine the suite's key for freeze seals.
var withFreezeSeals = engineTuning{engine: func(r *PromotionReconciler) { r.Freezes = admissionKey }}

// sealedFreeze creates a Freeze as the webhook would admit it from oncall.
func sealedFreeze(ctx context.Context, ns, name, env, reason string) *batonv1alpha1.Freeze {
	GinkgoHelper()
	f := &batonv1alpha1.Freeze{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: batonv1alpha1.FreezeSpec{Environment: env, Reason: reason, FrozenBy: &batonv1alpha1.UserInfo{Username: "oncall"}}}
	reseal(f)
	Expect(k8sClient.Create(ctx, f)).To(Succeed())
	return f
}

func reseal(f *batonv1alpha1.Freeze) {
	GinkgoHelper()
	seal, err := identity.SealFreeze("Freeze", f.Namespace, f.Name, f.Spec, admissionKey)
	Expect(err).NotTo(HaveOccurred())
	f.Annotations = map[string]string{batonv1alpha1.FreezeMarkerAnnotation: seal}
}

// lift sets spec.lifted as oncall, sealed as the webhook would.
func lift(ctx context.Context, f *batonv1alpha1.Freeze) {
	GinkgoHelper()
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(f), f)).To(Succeed())
	base := f.DeepCopy()
	f.Spec.Lifted, f.Spec.LiftedBy = true, &batonv1alpha1.UserInfo{Username: "oncall"}
	reseal(f)
	Expect(k8sClient.Patch(ctx, f, client.MergeFrom(base))).To(Succeed())
}

// fixedWindow is a one-off DeployWindow on the fake clock's time line.
func fixedWindow(ctx context.Context, ns, name string, typ batonv1alpha1.WindowType, from, to time.Duration) {
	GinkgoHelper()
	now := fakeClock.Now()
	Expect(k8sClient.Create(ctx, &batonv1alpha1.DeployWindow{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: batonv1alpha1.DeployWindowSpec{Type: typ, TimeZone: "Europe/Berlin", Reason: "release freeze",
			Start: &metav1.Time{Time: now.Add(from)}, End: &metav1.Time{Time: now.Add(to)}}})).To(Succeed())
}

// expectHeld waits until p is Queued for reason, with a message saying all
// of says: the engine has looked, and decided to wait.
func expectHeld(ctx context.Context, p *batonv1alpha1.Promotion, reason string, says ...string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
		g.Expect(p.Status.Phase).To(Equal(batonv1alpha1.PromotionQueued))
		g.Expect(readyReason(p)).To(Equal(reason), "conditions: %+v", p.Status.Conditions)
		for _, s := range says {
			g.Expect(readyMessage(p)).To(ContainSubstring(s))
		}
	}).Should(Succeed())
}

var _ = Describe("Deploy windows (fake clock)", func() {
	ctx := context.Background()
	BeforeEach(func() { DeferCleanup(startPromotionManager(nil, withFreezeSeals)) })

	// heldUntilBoundary: a Promotion into production, which selects the
	// window, waits with says in its message, nothing is delivered; 2 s on
	// the fake clock later the requeue the engine asked for, with no other
	// event to wake it, starts it.
	heldUntilBoundary := func(window string, typ batonv1alpha1.WindowType, from, to time.Duration, says ...string) {
		s := newStage(ctx, "registry.example.com/web:1", func(prod *batonv1alpha1.Environment) {
			prod.Spec.DeployWindows = &batonv1alpha1.WindowSelector{Names: []string{window}}
		})
		fixedWindow(ctx, s.ns, window, typ, from, to)
		s.shipToStaging(ctx, "registry.example.com/web:2")
		p := s.promotion(ctx, "production", "to-prod-", "registry.example.com/web:2", nil)
		expectHeld(ctx, p, batonv1alpha1.DeployWindowReason, says...)
		Expect(imageOf(ctx, s.prodDep)).To(Equal("registry.example.com/web:1"), "nothing is delivered while the window holds it")
		Expect(s.production.Status.ActivePromotion).To(BeNil())

		fakeClock.Step(2 * time.Second)
		s.completeRollout(ctx, s.prodDep, "registry.example.com/web:2")
		expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
	}

	It("holds a Promotion in a deny window and starts it at the boundary", func() {
		// Open since an hour ago; it closes 2 s (fake) from now.
		heldUntilBoundary("holiday-freeze", batonv1alpha1.WindowDeny, -time.Hour, 2*time.Second,
			"blocked by deny window holiday-freeze until", "Europe/Berlin: release freeze", "verb override")
	})

	It("holds a Promotion outside its allow window until the window opens", func() {
		heldUntilBoundary("office-hours", batonv1alpha1.WindowAllow, 2*time.Second, time.Hour,
			"outside every allow window (office-hours) until allow window office-hours opens at")
	})

	It("holds every Promotion while spec.deployWindows names a window that does not exist, naming the field", func() {
		s := newStage(ctx, "registry.example.com/web:1", func(prod *batonv1alpha1.Environment) {
			prod.Spec.DeployWindows = &batonv1alpha1.WindowSelector{Names: []string{"nights"}}
		})
		s.shipToStaging(ctx, "registry.example.com/web:2")
		p := s.promotion(ctx, "production", "to-prod-", "registry.example.com/web:2", nil)
		expectHeld(ctx, p, batonv1alpha1.WindowNotFoundReason, `spec.deployWindows.names[0]: DeployWindow "nights" does not exist`)
		Expect(imageOf(ctx, s.prodDep)).To(Equal("registry.example.com/web:1"))

		// Creating the window (closed) is a watch event: the Promotion starts.
		fixedWindow(ctx, s.ns, "nights", batonv1alpha1.WindowDeny, time.Hour, 2*time.Hour)
		s.completeRollout(ctx, s.prodDep, "registry.example.com/web:2")
		expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
	})

	It("lets a rollback run during a freeze, and holds it with freeze.blockRollbacks", func() {
		s := newStage(ctx, "registry.example.com/web:1", nil)
		s.shipToStaging(ctx, "registry.example.com/web:2")
		p := s.promotion(ctx, "production", "to-prod-", "registry.example.com/web:2", nil)
		s.completeRollout(ctx, s.prodDep, "registry.example.com/web:2")
		expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)

		s.updateProduction(ctx, func(e *batonv1alpha1.Environment) { e.Spec.Freeze.BlockRollbacks = true })
		f := sealedFreeze(ctx, s.ns, "incident", "", "payments are down")
		// Back to the adopted revision, which is a re-ship: it says why.
		undo := builder.Promotion(s.ns, "").GenerateName("undo-").Environment("production").Reason("web:2 breaks checkout").RequestedBy("oncall").Build()
		undo.Spec.Rollback = &batonv1alpha1.RollbackSpec{}
		Expect(k8sClient.Create(ctx, admitted(undo))).To(Succeed())
		expectHeld(ctx, undo, batonv1alpha1.FrozenReason, "Freeze "+s.ns+"/incident (by oncall): payments are down", "rollbacks wait too")
		Expect(imageOf(ctx, s.prodDep)).To(Equal("registry.example.com/web:2"))

		// Without blockRollbacks, the same rollback runs through the freeze.
		s.updateProduction(ctx, func(e *batonv1alpha1.Environment) { e.Spec.Freeze.BlockRollbacks = false })
		s.completeRollout(ctx, s.prodDep, "registry.example.com/web:1")
		expectPhase(ctx, undo, batonv1alpha1.PromotionSucceeded)
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(f), f)).To(Succeed())
		Expect(f.Spec.Lifted).To(BeFalse(), "the freeze still stands")
	})
})

var _ = Describe("A freeze holds autoPromote and a source deploy (fake clock)", Ordered, func() {
	var (
		ctx  = context.Background()
		srv  *gittestserver.GitServer
		repo *appRepo
		s    *stage
	)
	BeforeAll(func() { srv = gitServer() })

	It("keeps both triggers and runs them when the freezes lift", func() {
		DeferCleanup(startPromotionManager(nil, withFreezeSeals))
		repo = newAppRepo(srv)
		c0 := repo.head()
		s = newStage(ctx, "registry.example.com/web:1", func(prod *batonv1alpha1.Environment) { prod.Spec.AutoPromote = true })
		s.follow(ctx, repo, time.Second)
		s.deploysSource(ctx, c0)
		s.seen(ctx, c0)
		var auto0 *batonv1alpha1.Promotion
		Eventually(func(g Gomega) { auto0 = autoPromotion(ctx, g, s.ns, webImage(c0)) }).Should(Succeed())
		s.completeRollout(ctx, s.prodDep, webImage(c0))
		expectPhase(ctx, auto0, batonv1alpha1.PromotionSucceeded)

		everything := sealedFreeze(ctx, s.ns, "dr-drill", "", "DR drill until 14:00")
		prod := sealedFreeze(ctx, s.ns, "prod-incident", "production", "incident 4711")

		c1 := repo.merge("Add the checkout page")
		src := s.srcPromotion(ctx, c1)
		expectHeld(ctx, src, batonv1alpha1.FrozenReason, "DR drill until 14:00", "(by oncall)")
		Expect(imageOf(ctx, s.stagingDep)).To(Equal(webImage(c0)), "the merge is not deployed during the freeze")

		lift(ctx, everything)
		s.completeRollout(ctx, s.stagingDep, webImage(c1))
		expectPhase(ctx, src, batonv1alpha1.PromotionSucceeded)

		// Staging verified c1: autoPromote still creates its Promotion, which
		// waits for the production freeze.
		var auto *batonv1alpha1.Promotion
		Eventually(func(g Gomega) { auto = autoPromotion(ctx, g, s.ns, webImage(c1)) }).Should(Succeed())
		expectHeld(ctx, auto, batonv1alpha1.FrozenReason, "Freeze "+s.ns+"/prod-incident (by oncall): incident 4711")
		Expect(imageOf(ctx, s.prodDep)).To(Equal(webImage(c0)))

		lift(ctx, prod)
		s.completeRollout(ctx, s.prodDep, webImage(c1))
		expectPhase(ctx, auto, batonv1alpha1.PromotionSucceeded)
	})
})

// autoPromotion is the Promotion autoPromote created into production for
// image.
func autoPromotion(ctx context.Context, g Gomega, ns, image string) *batonv1alpha1.Promotion {
	var list batonv1alpha1.PromotionList
	g.Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	var found []*batonv1alpha1.Promotion
	for i, p := range list.Items {
		if _, ok := p.Annotations[batonv1alpha1.AutoPromoteKeyAnnotation]; ok && p.Spec.Environment == "production" && p.Spec.Image == image {
			found = append(found, &list.Items[i])
		}
	}
	// Not just any Promotion of image: the one into staging has it too.
	g.Expect(found).To(HaveLen(1), "autoPromote Promotions of %s into production", image)
	return found[0]
}
