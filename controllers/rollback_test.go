package controllers

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testenv"
	"github.com/baton-dev/baton/internal/testing/builder"
)

const (
	web0 = "registry.example.com/web:0"
	web1 = "registry.example.com/web:1"
	web2 = "registry.example.com/web:2"
	web3 = "registry.example.com/web:3"
)

// promoteProduction runs a Promotion of image into production to success.
func (s *stage) promoteProduction(ctx context.Context, image string) *batonv1alpha1.Promotion {
	GinkgoHelper()
	p := s.promotion(ctx, "production", "to-prod-", image, nil)
	s.completeRollout(ctx, s.prodDep, image)
	expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
	return p
}

// withRevisions is a stage whose production history is 1 web:0 (Adopted),
// 2 web:1, 3 web:2, all Succeeded; staging verified web:1 and web:2.
func withRevisions(ctx context.Context, tune func(*batonv1alpha1.Environment)) *stage {
	GinkgoHelper()
	s := newStage(ctx, web0, tune)
	s.shipToStaging(ctx, web2)
	s.promoteProduction(ctx, web1)
	s.promoteProduction(ctx, web2)
	Expect(historyOf(ctx, s.production)).To(HaveLen(3))
	return s
}

func (s *stage) rollback(ctx context.Context, toRevision int64) *batonv1alpha1.Promotion {
	GinkgoHelper()
	p := builder.Promotion(s.ns, "").GenerateName("undo-").Environment("production").RequestedBy("oncall").Reason("checkout errors").Build()
	p.Spec.Rollback = &batonv1alpha1.RollbackSpec{ToRevision: toRevision}
	Expect(k8sClient.Create(ctx, admitted(p))).To(Succeed())
	return p
}

func condition(env *batonv1alpha1.Environment, t string) *metav1.Condition {
	return apimeta.FindStatusCondition(env.Status.Conditions, t)
}

func promotionsInto(ctx context.Context, ns, env string) []batonv1alpha1.Promotion {
	GinkgoHelper()
	var list batonv1alpha1.PromotionList
	Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	var out []batonv1alpha1.Promotion
	for _, p := range list.Items {
		if p.Spec.Environment == env {
			out = append(out, p)
		}
	}
	return out
}

var _ = Describe("Rollback", func() {
	var (
		ctx  context.Context
		stop func()
	)
	BeforeEach(func() {
		ctx = context.Background()
		stop = startPromotionManager(nil)
	})
	AfterEach(func() { stop() })

	It("returns to the previous successful revision as a new rollback revision, and holds the image it left", func() {
		s := withRevisions(ctx, nil)
		undo := s.rollback(ctx, 0)
		s.completeRollout(ctx, s.prodDep, web1)
		expectPhase(ctx, undo, batonv1alpha1.PromotionSucceeded)
		Expect(undo.Status.Image).To(Equal(web1))

		history := historyOf(ctx, s.production)
		Expect(history).To(HaveLen(4))
		Expect(history[3].Revision).To(Equal(int64(4)))
		Expect(history[3].Rollback).To(BeTrue())
		Expect(history[3].Image).To(Equal(web1))
		Expect(history[3].Result).To(Equal(batonv1alpha1.RevisionSucceeded))
		Expect(s.production.Status.RejectedImages).To(ConsistOf(HaveField("Image", web2)))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), s.production)).To(Succeed())
			held := condition(s.production, batonv1alpha1.HeldCondition)
			g.Expect(held).NotTo(BeNil())
			g.Expect(held.Message).To(ContainSubstring(web2))
			g.Expect(held.Message).To(ContainSubstring(undo.Name))
		}).Should(Succeed())
	})

	It("returns to a named revision", func() {
		s := withRevisions(ctx, nil)
		undo := s.rollback(ctx, 1)
		s.completeRollout(ctx, s.prodDep, web0)
		expectPhase(ctx, undo, batonv1alpha1.PromotionSucceeded)
		Expect(imageOf(ctx, s.prodDep)).To(Equal(web0))
		Expect(historyOf(ctx, s.production)[3].Image).To(Equal(web0))
	})

	It("changes nothing when asked for the current revision", func() {
		s := withRevisions(ctx, nil)
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.prodDep), s.prodDep)).To(Succeed())
		generation := s.prodDep.Generation
		undo := s.rollback(ctx, 3)
		expectPhase(ctx, undo, batonv1alpha1.PromotionSucceeded)
		Expect(readyReason(undo)).To(Equal(batonv1alpha1.AlreadyAtImageReason))
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.prodDep), s.prodDep)).To(Succeed())
		Expect(s.prodDep.Generation).To(Equal(generation))
		Expect(historyOf(ctx, s.production)).NotTo(ContainElement(HaveField("Result", batonv1alpha1.RevisionRolledBack)))
		Expect(s.production.Status.RejectedImages).To(BeEmpty(), "nothing was moved away from")
	})

	It("fails a rollback to a revision outside the history, listing what is available", func() {
		s := withRevisions(ctx, nil)
		undo := s.rollback(ctx, 7)
		expectPhase(ctx, undo, batonv1alpha1.PromotionFailed)
		Expect(readyReason(undo)).To(Equal(batonv1alpha1.RevisionNotFoundReason))
		Expect(readyMessage(undo)).To(ContainSubstring("revisions available: 1 (" + web0 + "), 2 (" + web1 + "), 3 (" + web2 + ") current"))
	})

	It("preempts a RollingOut Promotion and jumps two queued ones", func() {
		s := newStage(ctx, web0, nil)
		s.shipToStaging(ctx, web2)
		s.shipToStaging(ctx, web3)
		rolling := s.promotion(ctx, "production", "rolling-", web2, nil)
		expectPhase(ctx, rolling, batonv1alpha1.PromotionRollingOut)
		queued := []*batonv1alpha1.Promotion{
			s.promotion(ctx, "production", "queued-a-", web3, nil),
			s.promotion(ctx, "production", "queued-b-", web1, nil),
		}
		for _, q := range queued {
			expectPhase(ctx, q, batonv1alpha1.PromotionQueued)
		}

		undo := s.rollback(ctx, 0)
		expectPhase(ctx, rolling, batonv1alpha1.PromotionSuperseded)
		Expect(readyMessage(rolling)).To(ContainSubstring("Superseded by rollback Promotion " + undo.Name))
		expectPhase(ctx, undo, batonv1alpha1.PromotionRollingOut)
		for _, q := range queued {
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(q), q)).To(Succeed())
			Expect(q.Status.Phase).To(Equal(batonv1alpha1.PromotionQueued), "%s ran before the rollback", q.Name)
		}
		s.completeRollout(ctx, s.prodDep, web0)
		expectPhase(ctx, undo, batonv1alpha1.PromotionSucceeded)

		history := historyOf(ctx, s.production)
		Expect(history[1].Promotion.Name).To(Equal(rolling.Name))
		Expect(history[1].Result).To(Equal(batonv1alpha1.RevisionSuperseded))
		Expect(history[2].Promotion.Name).To(Equal(undo.Name))
		Expect(history[2].Rollback).To(BeTrue())

		By("the queue resumes after the rollback, in order")
		expectPhase(ctx, queued[0], batonv1alpha1.PromotionRollingOut)
		s.completeRollout(ctx, s.prodDep, web3)
		expectPhase(ctx, queued[0], batonv1alpha1.PromotionSucceeded)
		expectPhase(ctx, queued[1], batonv1alpha1.PromotionRollingOut)
	})

	It("rolls back by itself after ProgressDeadlineExceeded, before anything queued", func() {
		s := newStage(ctx, web0, func(e *batonv1alpha1.Environment) { e.Spec.Rollout.AutoRollback = true })
		s.shipToStaging(ctx, web2)
		broken := s.promotion(ctx, "production", "broken-", web2, nil)
		expectPhase(ctx, broken, batonv1alpha1.PromotionRollingOut)
		waiting := s.promotion(ctx, "production", "waiting-", web1, nil)
		expectPhase(ctx, waiting, batonv1alpha1.PromotionQueued)

		Expect(testenv.RolloutFailed(ctx, k8sClient, s.prodDep, `ReplicaSet "web-production-broken" has timed out progressing.`)).To(Succeed())
		expectPhase(ctx, broken, batonv1alpha1.PromotionFailed)
		Expect(readyReason(broken)).To(Equal(batonv1alpha1.RolloutFailedReason))
		Expect(readyMessage(broken)).To(ContainSubstring("Rolling back to revision 1 with Promotion " + broken.Name + "-rollback"))

		undo := &batonv1alpha1.Promotion{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: broken.Name + "-rollback"}, undo)).To(Succeed())
		Expect(undo.Spec.Rollback.ToRevision).To(Equal(int64(1)))
		Expect(undo.Spec.RequestedBy.Username).To(Equal(ControllerUser))
		Expect(undo.Spec.Reason).To(ContainSubstring("Promotion " + broken.Name + " failed (RolloutFailed)"))
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), s.production)).To(Succeed())
		Expect(s.production.Status.ActivePromotion.Name).To(Equal(undo.Name), "the lease went straight to the rollback")
		Expect(s.production.Status.RejectedImages).To(ConsistOf(HaveField("Image", web2)))

		s.completeRollout(ctx, s.prodDep, web0)
		expectPhase(ctx, undo, batonv1alpha1.PromotionSucceeded)
		// The queued Promotion takes the lease in a reconcile of its own,
		// after the rollback released it: wait for it to start.
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(waiting), waiting)).To(Succeed())
			g.Expect(waiting.Status.StartedAt).NotTo(BeNil())
		}).Should(Succeed())
		Expect(waiting.Status.StartedAt.Time).NotTo(BeTemporally("<", undo.Status.CompletedAt.Time), "the queued Promotion started before the rollback ended")
	})

	It("never rolls back a failed rollback, and stalls the Environment instead", func() {
		s := newStage(ctx, web0, func(e *batonv1alpha1.Environment) { e.Spec.Rollout.AutoRollback = true })
		broken := s.promotion(ctx, "production", "broken-", web1, nil)
		expectPhase(ctx, broken, batonv1alpha1.PromotionRollingOut)
		Expect(testenv.RolloutFailed(ctx, k8sClient, s.prodDep, "first failure")).To(Succeed())
		expectPhase(ctx, broken, batonv1alpha1.PromotionFailed)

		undo := builder.Promotion(s.ns, broken.Name+"-rollback").Build()
		expectPhase(ctx, undo, batonv1alpha1.PromotionRollingOut)
		Eventually(func() string { return imageOf(ctx, s.prodDep) }).Should(Equal(web0))
		Expect(testenv.RolloutFailed(ctx, k8sClient, s.prodDep, "second failure")).To(Succeed())
		expectPhase(ctx, undo, batonv1alpha1.PromotionFailed)

		// RollbackFailed says the newest revision is the failed rollback's,
		// closed: the engine wrote it in the same Environment write that
		// would have handed the lease to a second rollback, which it creates
		// first.
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), s.production)).To(Succeed())
			stalled := condition(s.production, batonv1alpha1.StalledCondition)
			g.Expect(stalled).NotTo(BeNil())
			g.Expect(stalled.Reason).To(Equal(batonv1alpha1.RollbackFailedReason))
			g.Expect(stalled.Message).To(ContainSubstring("Baton does not roll back a rollback"))
			g.Expect(stalled.ObservedGeneration).To(Equal(s.production.Generation))
		}).Should(Succeed())
		Expect(readyMessage(undo)).NotTo(ContainSubstring("Rolling back"))
		Consistently(func() []batonv1alpha1.Promotion { return promotionsInto(ctx, s.ns, "production") }, "2s", "200ms").
			Should(HaveLen(2), "a second rollback was created")
		Expect(s.production.Status.ActivePromotion).To(BeNil())
	})

	// The engine against the attacks of issue 18 (classes 3, 4 and 9); the
	// red team runs them as real users in test/e2e/redteam_engine_test.go.
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

// expectAutoPromoteDecision waits until the manager's autoPromote has
// decided for env's current generation, with reason and a message that
// mentions mentions: a spec that then expects no new Promotion asserts on a
// decision that was really made.
func expectAutoPromoteDecision(ctx context.Context, env *batonv1alpha1.Environment, reason, mentions string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(env), env)).To(Succeed())
		c := condition(env, batonv1alpha1.AutoPromoteCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.ObservedGeneration).To(Equal(env.Generation))
		g.Expect(c.Reason).To(Equal(reason))
		g.Expect(c.Message).To(ContainSubstring(mentions))
	}).Should(Succeed())
}

var _ = Describe("autoPromote", func() {
	var ctx context.Context
	BeforeEach(func() { ctx = context.Background() })

	autoPromotions := func(s *stage) []batonv1alpha1.Promotion {
		var out []batonv1alpha1.Promotion
		for _, p := range promotionsInto(ctx, s.ns, "production") {
			if p.Annotations[batonv1alpha1.AutoPromoteKeyAnnotation] != "" {
				out = append(out, p)
			}
		}
		return out
	}

	It("creates exactly one Promotion per verified image, across a restart", func() {
		stop := startPromotionManager(nil)
		DeferCleanup(func() { stop() })
		s := newStage(ctx, web1, func(e *batonv1alpha1.Environment) { e.Spec.AutoPromote = true })
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.staging), s.staging)).To(Succeed())
			g.Expect(verifiedImages(s.staging)).To(Equal([]string{web1}))
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), s.production)).To(Succeed())
			g.Expect(s.production.Status.Current).NotTo(BeNil())
			g.Expect(s.production.Status.Current.Image).To(Equal(web1))
		}).Should(Succeed())
		expectAutoPromoteDecision(ctx, s.production, batonv1alpha1.UpToDateReason, web1)
		Consistently(func() []batonv1alpha1.Promotion { return autoPromotions(s) }, "1s", "200ms").
			Should(BeEmpty(), "production already runs staging's only verified image")

		s.shipToStaging(ctx, web2)
		Eventually(func() []batonv1alpha1.Promotion { return autoPromotions(s) }).Should(HaveLen(1))
		auto := autoPromotions(s)[0]
		Expect(auto.Spec.Image).To(Equal(web2))
		Expect(auto.Annotations[batonv1alpha1.AutoPromoteKeyAnnotation]).To(Equal("production/registry.example.com/web:2"))

		By("restarting the manager and nudging every Environment")
		stop()
		stop = startPromotionManager(nil)
		pokeEnvironment(ctx, s.staging)
		pokeEnvironment(ctx, s.production)
		s.completeRollout(ctx, s.prodDep, web2)
		expectPhase(ctx, &auto, batonv1alpha1.PromotionSucceeded)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), s.production)).To(Succeed())
			g.Expect(s.production.Status.Current.Image).To(Equal(web2))
		}).Should(Succeed())
		expectAutoPromoteDecision(ctx, s.production, batonv1alpha1.UpToDateReason, web2)
		Consistently(func() []batonv1alpha1.Promotion { return autoPromotions(s) }, "2s", "200ms").Should(HaveLen(1))
	})

	It("skips an image production rolled back away from, until someone re-ships it on purpose", func() {
		DeferCleanup(startPromotionManager(nil))
		s := newStage(ctx, web1, func(e *batonv1alpha1.Environment) { e.Spec.AutoPromote = true })
		s.shipToStaging(ctx, web2)
		Eventually(func() []batonv1alpha1.Promotion { return autoPromotions(s) }).Should(HaveLen(1))
		s.completeRollout(ctx, s.prodDep, web2)
		auto := autoPromotions(s)[0]
		expectPhase(ctx, &auto, batonv1alpha1.PromotionSucceeded)

		undo := s.rollback(ctx, 0)
		s.completeRollout(ctx, s.prodDep, web1)
		expectPhase(ctx, undo, batonv1alpha1.PromotionSucceeded)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), s.production)).To(Succeed())
			g.Expect(condition(s.production, batonv1alpha1.HeldCondition)).NotTo(BeNil())
		}).Should(Succeed())
		pokeEnvironment(ctx, s.staging)
		expectAutoPromoteDecision(ctx, s.production, batonv1alpha1.ImageRejectedReason, web2)
		Consistently(func() []batonv1alpha1.Promotion { return autoPromotions(s) }, "2s", "200ms").
			Should(HaveLen(1), "autoPromote shipped the rejected image again")

		By("a person re-ships it, with a reason")
		reship := builder.Promotion(s.ns, "").GenerateName("reship-").Environment("production").Image(web2).
			Reason("the memory leak is fixed in the config").RequestedBy("alice").Build()
		Expect(k8sClient.Create(ctx, admitted(reship))).To(Succeed())
		s.completeRollout(ctx, s.prodDep, web2)
		expectPhase(ctx, reship, batonv1alpha1.PromotionSucceeded)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), s.production)).To(Succeed())
			g.Expect(s.production.Status.RejectedImages).To(BeEmpty())
			g.Expect(condition(s.production, batonv1alpha1.HeldCondition)).To(BeNil())
		}).Should(Succeed())

		By("autoPromote resumes with the next verified image")
		s.shipToStaging(ctx, web3)
		Eventually(func() []batonv1alpha1.Promotion { return autoPromotions(s) }).Should(HaveLen(2))
	})

	It("refuses a rejected image named without a reason", func() {
		DeferCleanup(startPromotionManager(nil))
		s := withRevisions(ctx, nil)
		undo := s.rollback(ctx, 0)
		s.completeRollout(ctx, s.prodDep, web1)
		expectPhase(ctx, undo, batonv1alpha1.PromotionSucceeded)
		again := s.promotion(ctx, "production", "again-", web2, nil)
		expectPhase(ctx, again, batonv1alpha1.PromotionFailed)
		Expect(readyReason(again)).To(Equal(batonv1alpha1.ImageRejectedReason))
		Expect(readyMessage(again)).To(ContainSubstring("says why in spec.reason"))
	})
})
