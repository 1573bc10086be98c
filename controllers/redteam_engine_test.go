package controllers

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testenv"
	"github.com/baton-dev/baton/internal/testing/builder"
)

// The engine's wiring against the attacks of issue 18 (classes 3, 4 and 9);
// the red team runs them as real users in test/e2e/redteam_engine_test.go.
var _ = Describe("The engine under attack", func() {
	var (
		ctx  context.Context
		stop func()
	)
	BeforeEach(func() {
		ctx = context.Background()
		stop = startPromotionManager(nil)
	})
	AfterEach(func() { stop() })

	It("never adopts a <name>-rollback someone else created, and rolls back with a name of its own", func() {
		s := newStage(ctx, web0, func(e *batonv1alpha1.Environment) { e.Spec.Rollout.AutoRollback = true })
		s.shipToStaging(ctx, web2)
		squat := builder.Promotion(s.ns, "broken-rollback").Environment("production").Rollback(1).Reason("mine").RequestedBy("mallory").Build()
		Expect(k8sClient.Create(ctx, admitted(squat))).To(Succeed())
		expectPhase(ctx, squat, batonv1alpha1.PromotionSucceeded)

		broken := builder.Promotion(s.ns, "broken").Environment("production").Image(web2).RequestedBy("alice").Build()
		Expect(k8sClient.Create(ctx, admitted(broken))).To(Succeed())
		expectPhase(ctx, broken, batonv1alpha1.PromotionRollingOut)
		Expect(testenv.RolloutFailed(ctx, k8sClient, s.prodDep, "timed out progressing")).To(Succeed())
		expectPhase(ctx, broken, batonv1alpha1.PromotionFailed)
		Expect(broken.Status.AutoRollback).NotTo(BeNil())
		own := broken.Status.AutoRollback.Name
		Expect(own).To(HavePrefix("broken-rollback-"))
		Expect(broken.Status.AutoRollback.UID).NotTo(BeEmpty())
		Expect(readyMessage(broken)).To(ContainSubstring("with Promotion " + own))

		undo := &batonv1alpha1.Promotion{}
		Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: s.ns, Name: own}, undo)).To(Succeed())
		Expect(undo.Spec.RequestedBy.Username).To(Equal(ControllerUser))
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), s.production)).To(Succeed())
		Expect(s.production.Status.ActivePromotion.Name).To(Equal(own))
		s.completeRollout(ctx, s.prodDep, web0)
		expectPhase(ctx, undo, batonv1alpha1.PromotionSucceeded)
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(squat), squat)).To(Succeed())
		Expect(squat.Status.Revision).To(Equal(int64(2)), "the squatted Promotion ran only as itself")
	})

	It("releases a lease whose holder no longer exists, with a history entry, and the queue goes on", func() {
		s := newStage(ctx, web0, nil)
		s.shipToStaging(ctx, web2)
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), s.production)).To(Succeed())
		base := s.production.DeepCopy()
		ghost := &batonv1alpha1.ObjectRef{Name: "ghost", UID: "ghost-uid"}
		s.production.Status.ActivePromotion = ghost
		s.production.Status.History = append(s.production.Status.History, batonv1alpha1.Revision{Revision: 2, Image: web1, Promotion: ghost})
		Expect(k8sClient.Status().Patch(ctx, s.production, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))).To(Succeed())

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), s.production)).To(Succeed())
			g.Expect(s.production.Status.ActivePromotion).To(BeNil())
			g.Expect(s.production.Status.History[1].Result).To(Equal(batonv1alpha1.RevisionFailed))
			g.Expect(s.production.Status.History[1].Message).To(ContainSubstring("ghost no longer exists"))
		}).Should(Succeed())
		s.promoteProduction(ctx, web2)
	})

	It("sends a Promotion whose status was written to Queued back to WaitingForApproval", func() {
		s := newStage(ctx, web0, func(e *batonv1alpha1.Environment) { e.Spec.Approval.Required = 1 })
		s.shipToStaging(ctx, web2)
		p := s.promotion(ctx, "production", "forged-", web2, nil)
		expectPhase(ctx, p, batonv1alpha1.PromotionWaitingForApproval)
		waiting := p.Status.PhaseSince.DeepCopy()
		// The phase Baton writes back after the forgery carries a later
		// phaseSince, on the engine's clock.
		fakeClock.Step(2 * time.Second)
		forged := p.DeepCopy()
		forged.Status.Phase = batonv1alpha1.PromotionQueued
		Expect(k8sClient.Status().Patch(ctx, forged, client.MergeFrom(p))).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
			g.Expect(p.Status.Phase).To(Equal(batonv1alpha1.PromotionWaitingForApproval))
			g.Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
			g.Expect(p.Status.PhaseSince.After(waiting.Time)).To(BeTrue(), "Baton sent it back after the forged Queued")
		}).Should(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), s.production)).To(Succeed())
		Expect(s.production.Status.ActivePromotion).To(BeNil())
		Expect(imageOf(ctx, s.prodDep)).To(Equal(web0))
	})
})
