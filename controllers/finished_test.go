package controllers

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

	It("loses a finalizer that an earlier Baton left on it", func() {
		_, p := succeeded("left-on-")
		base := p.DeepCopy()
		controllerutil.AddFinalizer(p, PromotionFinalizer)
		Expect(k8sClient.Patch(ctx, p, client.MergeFrom(base))).To(Succeed())

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
			g.Expect(p.Finalizers).NotTo(ContainElement(PromotionFinalizer))
		}).Should(Succeed())
		Expect(p.Status.Phase).To(Equal(batonv1alpha1.PromotionSucceeded), "and nothing else changes")
	})
})
