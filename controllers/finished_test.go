package controllers

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// The finalizer only keeps a Promotion until its history entry is closed:
// a finished Promotion has none, so it costs the engine nothing and a
// delete never waits for the manager.
var _ = Describe("A finished Promotion", func() {
	var (
		ctx  context.Context
		stop func()
	)
	BeforeEach(func() {
		ctx = context.Background()
		stop = startPromotionManager(nil)
	})
	AfterEach(func() {
		if stop != nil {
			stop()
			stop = nil
		}
	})

	succeeded := func(prefix string) (*stage, *batonv1alpha1.Promotion) {
		GinkgoHelper()
		s := newStage(ctx, "registry.example.com/web:0", nil)
		p := s.promotion(ctx, "production", prefix, "registry.example.com/web:1", nil)
		expectPhase(ctx, p, batonv1alpha1.PromotionRollingOut)
		Expect(p.Finalizers).To(ContainElement(PromotionFinalizer), "in flight, the finalizer keeps its history entry")
		s.completeRollout(ctx, s.prodDep, "registry.example.com/web:1")
		expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
			g.Expect(p.Finalizers).NotTo(ContainElement(PromotionFinalizer))
		}).Should(Succeed())
		return s, p
	}

	It("has no finalizer, and deleting it while the manager is stopped neither hangs nor loses its history entry", func() {
		s, p := succeeded("finished-")
		stop()
		stop = nil

		Expect(k8sClient.Delete(ctx, p)).To(Succeed())
		Expect(apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), &batonv1alpha1.Promotion{}))).
			To(BeTrue(), "gone at once: nothing waits for a manager")
		history := historyOf(ctx, s.production)
		Expect(history).To(ContainElement(SatisfyAll(
			HaveField("Promotion.Name", p.Name),
			HaveField("Result", batonv1alpha1.RevisionSucceeded),
			HaveField("RequestedBy", "alice"))), "the record of a deleted Promotion lives on in the history")
	})

	It("is labelled finished with its Environment, and leaves the manager's cache", func() {
		s, p := succeeded("labelled-")
		Expect(p.Labels).To(HaveKeyWithValue(batonv1alpha1.FinishedLabel, "production"))

		// A cache built from the manager's own options, as cmd/manager builds it.
		c, err := cache.New(testEnv.Config, cache.Options{Scheme: scheme.Scheme, ByObject: CacheOptions().ByObject})
		Expect(err).NotTo(HaveOccurred())
		cctx, cancelCache := context.WithCancel(ctx)
		defer cancelCache()
		go func() { _ = c.Start(cctx) }()
		Expect(c.WaitForCacheSync(cctx)).To(BeTrue())

		live := s.promotion(ctx, "production", "live-", "registry.example.com/web:2", nil)
		Eventually(func(g Gomega) {
			cached := &batonv1alpha1.Promotion{}
			g.Expect(c.Get(cctx, client.ObjectKeyFromObject(live), cached)).To(Succeed())
			g.Expect(cached.ManagedFields).To(BeEmpty(), "managedFields are trimmed")
		}).Should(Succeed())
		var cached batonv1alpha1.PromotionList
		Expect(c.List(cctx, &cached, client.InNamespace(s.ns))).To(Succeed())
		Expect(cached.Items).NotTo(ContainElement(HaveField("Name", p.Name)), "a finished Promotion is not cached")
		env := &batonv1alpha1.Environment{}
		Expect(c.Get(cctx, client.ObjectKeyFromObject(s.production), env)).To(Succeed())
		Expect(env.ManagedFields).To(BeEmpty())
	})

	It("loses a finalizer that an earlier Baton left on it, and gets the finished label that Baton did not set", func() {
		_, p := succeeded("left-on-")
		base := p.DeepCopy()
		controllerutil.AddFinalizer(p, PromotionFinalizer)
		delete(p.Labels, batonv1alpha1.FinishedLabel)
		Expect(k8sClient.Patch(ctx, p, client.MergeFrom(base))).To(Succeed())

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
			g.Expect(p.Finalizers).NotTo(ContainElement(PromotionFinalizer))
			g.Expect(p.Labels).To(HaveKey(batonv1alpha1.FinishedLabel))
		}).Should(Succeed())
		Expect(p.Status.Phase).To(Equal(batonv1alpha1.PromotionSucceeded), "and nothing else changes")
	})

	It("beyond spec.promotionHistoryLimit, deletes the oldest finished Promotions and never an unfinished one, and their history lives on", func() {
		s := newStage(ctx, "registry.example.com/web:0", nil)
		base := s.staging.DeepCopy()
		s.staging.Spec.PromotionHistoryLimit = 2
		Expect(k8sClient.Patch(ctx, s.staging, client.MergeFrom(base))).To(Succeed())

		var done []*batonv1alpha1.Promotion
		for i := 2; i <= 4; i++ {
			image := fmt.Sprintf("registry.example.com/web:%d", i)
			p := s.promotion(ctx, "staging", "kept-", image, nil)
			s.completeRollout(ctx, s.stagingDep, image)
			expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
			done = append(done, p)
			nextSecond() // creationTimestamp has a resolution of one second
		}
		// One in flight while the last finished one is pruned.
		last := s.promotion(ctx, "staging", "kept-", "registry.example.com/web:5", nil)
		expectPhase(ctx, last, batonv1alpha1.PromotionRollingOut)
		nextSecond()
		waiting := s.promotion(ctx, "staging", "kept-", "registry.example.com/web:6", nil)
		expectPhase(ctx, waiting, batonv1alpha1.PromotionQueued)
		s.completeRollout(ctx, s.stagingDep, "registry.example.com/web:5")
		expectPhase(ctx, last, batonv1alpha1.PromotionSucceeded)

		Eventually(func(g Gomega) {
			for _, gone := range done[:2] {
				err := k8sClient.Get(ctx, client.ObjectKeyFromObject(gone), &batonv1alpha1.Promotion{})
				g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%s is beyond the limit of 2", gone.Name)
			}
		}).Should(Succeed())
		for _, kept := range []*batonv1alpha1.Promotion{done[2], last, waiting} {
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(kept), &batonv1alpha1.Promotion{})).To(Succeed(), "%s is kept", kept.Name)
		}
		Expect(historyOf(ctx, s.staging)).To(ContainElements(
			HaveField("Promotion.Name", done[0].Name), HaveField("Promotion.Name", done[1].Name)),
			"a deleted Promotion's record lives on in the history")
	})
})

// nextSecond waits until the wall clock is in the next second, so that the
// next object created has a later creationTimestamp.
func nextSecond() {
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second).Sub(now))
}
