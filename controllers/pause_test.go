package controllers

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/fluxcd/pkg/gittestserver"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testenv"
)

// resumeAs plays the admission webhook admitting user's spec.resume on a
// finished Promotion: resumedBy stamped, the finished label dropped, the
// marker signed again.
func resumeAs(ctx context.Context, p *batonv1alpha1.Promotion, user string) {
	GinkgoHelper()
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
	Expect(p.IsFinishedLabelled()).To(BeTrue(), "the engine let %s go", p.Name)
	base := p.DeepCopy()
	p.Spec.Resume, p.Spec.ResumedBy = true, &batonv1alpha1.UserInfo{Username: user}
	delete(p.Labels, batonv1alpha1.FinishedLabel)
	Expect(admitted(p)).NotTo(BeNil())
	Expect(k8sClient.Patch(ctx, p, client.MergeFrom(base))).To(Succeed())
}

// expectLetGoAgain waits until the engine has handled the resume on p and
// labelled it finished again.
func expectLetGoAgain(ctx context.Context, p *batonv1alpha1.Promotion) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
		g.Expect(p.IsFinishedLabelled()).To(BeTrue())
	}).Should(Succeed())
}

// resumeNote is the note of the Event with reason on Environment env about
// Promotion p; "" when there is none.
func resumeNote(ctx context.Context, g Gomega, env *batonv1alpha1.Environment, p *batonv1alpha1.Promotion, reason string) string {
	var list eventsv1.EventList
	g.Expect(k8sClient.List(ctx, &list, client.InNamespace(env.Namespace))).To(Succeed())
	for _, e := range list.Items {
		if e.Regarding.Kind == "Environment" && e.Regarding.Name == env.Name && e.Reason == reason &&
			e.Related != nil && e.Related.Name == p.Name {
			return e.Note
		}
	}
	return ""
}

// pauseAudit is the part of a pause or resume audit line a spec checks.
type pauseAudit struct {
	Msg       string `json:"msg"`
	UID       string `json:"uid"`
	ResumedBy string `json:"resumedBy"`
	Resumed   bool   `json:"resumed"`
	Reason    string `json:"reason"`
}

// pauseAudits are the audit lines about autoPromote's pause that name the
// Promotion with uid.
func pauseAudits(logs *logCapture, uid string) []pauseAudit {
	var out []pauseAudit
	for _, raw := range strings.Split(logs.String(), "\n") {
		var l pauseAudit
		if strings.Contains(raw, `"audit":true`) && json.Unmarshal([]byte(raw), &l) == nil && l.UID == uid && strings.HasPrefix(l.Msg, "autoPromote") {
			out = append(out, l)
		}
	}
	return out
}

func pauseOf(ctx context.Context, env *batonv1alpha1.Environment) *batonv1alpha1.AutoPromotePause {
	GinkgoHelper()
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(env), env)).To(Succeed())
	return env.Status.AutoPromotePause
}

var _ = Describe("pauseOnFailure", func() {
	ctx := context.Background()
	var logs *logCapture
	BeforeEach(func() {
		o := newObserved()
		logs = o.logs
		DeferCleanup(startPromotionManager(nil, engineTuning{options: o.options}))
	})

	It("pauses autoPromote after an auto-rollback, keeps the next trigger Queued, ignores a stale resume, and ships it on resume", func() {
		// Production runs web:1, which staging runs and verifies too: autoPromote
		// has nothing to do until web:2.
		s := newStage(ctx, web1, func(e *batonv1alpha1.Environment) {
			e.Spec.AutoPromote, e.Spec.Rollout.AutoRollback, e.Spec.PauseOnFailure = true, true, true
		})
		s.shipToStaging(ctx, web2)
		var broken *batonv1alpha1.Promotion
		Eventually(func(g Gomega) { broken = autoPromotion(ctx, g, s.ns, web2) }).Should(Succeed())
		expectPhase(ctx, broken, batonv1alpha1.PromotionRollingOut)
		Expect(testenv.RolloutFailed(ctx, k8sClient, s.prodDep, `ReplicaSet "web-production-broken" has timed out progressing.`)).To(Succeed())
		expectPhase(ctx, broken, batonv1alpha1.PromotionFailed)

		pause := pauseOf(ctx, s.production)
		Expect(pause).NotTo(BeNil())
		Expect(pause.Promotion.Name).To(Equal(broken.Name))
		Expect(pause.Promotion.UID).To(Equal(string(broken.UID)))
		Expect(pause.Result).To(Equal(batonv1alpha1.RevisionFailed))

		// The auto-rollback still runs.
		undo := &batonv1alpha1.Promotion{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: broken.Name + "-rollback"}, undo)).To(Succeed())
		s.completeRollout(ctx, s.prodDep, web1)
		expectPhase(ctx, undo, batonv1alpha1.PromotionSucceeded)
		Expect(pauseOf(ctx, s.production).Promotion.Name).To(Equal(broken.Name), "the first failure is the one to resume from")

		// The next trigger is kept, and waits.
		s.shipToStaging(ctx, web3)
		var next *batonv1alpha1.Promotion
		Eventually(func(g Gomega) { next = autoPromotion(ctx, g, s.ns, web3) }).Should(Succeed())
		expectHeld(ctx, next, batonv1alpha1.AutoPromotePausedReason,
			"Promotion "+broken.Name+" failed (spec.pauseOnFailure)", "resume with kubectl promote resume production")
		expectAutoPromoteDecision(ctx, s.production, batonv1alpha1.AutoPromotePausedReason, "it waits Queued")
		Expect(imageOf(ctx, s.prodDep)).To(Equal(web1))

		// A resume of another Promotion (the rollback) changes nothing, and says so.
		resumeAs(ctx, undo, "oncall")
		expectLetGoAgain(ctx, undo)
		Eventually(func(g Gomega) {
			g.Expect(resumeNote(ctx, g, s.production, undo, batonv1alpha1.ResumeNotPausedReason)).To(
				ContainSubstring("the pause in Environment production is Promotion " + broken.Name + "'s: nothing changed"))
		}).Should(Succeed())
		Expect(pauseOf(ctx, s.production)).NotTo(BeNil())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(next), next)).To(Succeed())
		Expect(next.Status.Phase).To(Equal(batonv1alpha1.PromotionQueued))

		// The resume of the failed one lifts the pause; the trigger ships.
		resumeAs(ctx, broken, "oncall")
		Eventually(func(g Gomega) {
			g.Expect(resumeNote(ctx, g, s.production, broken, batonv1alpha1.AutoPromoteResumedReason)).To(
				ContainSubstring("oncall resumed autoPromote and spec.source deploys in Environment production"))
		}).Should(Succeed())
		Expect(pauseOf(ctx, s.production)).To(BeNil())
		expectLetGoAgain(ctx, broken)
		// kstatus sees it Current again: the status caught up with the
		// generation spec.resume made.
		Expect(broken.Status.ObservedGeneration).To(Equal(broken.Generation))
		Expect(broken.Status.Phase).To(Equal(batonv1alpha1.PromotionFailed))
		s.completeRollout(ctx, s.prodDep, web3)
		expectPhase(ctx, next, batonv1alpha1.PromotionSucceeded)

		// On the record: the pause, the stale resume and the resume.
		Eventually(func(g Gomega) {
			g.Expect(pauseAudits(logs, string(broken.UID))).To(Equal([]pauseAudit{
				{Msg: "autoPromote paused", UID: string(broken.UID), Reason: batonv1alpha1.AutoPromotePausedReason},
				{Msg: "autoPromote resume", UID: string(broken.UID), ResumedBy: "oncall", Resumed: true, Reason: batonv1alpha1.AutoPromoteResumedReason},
			}))
			g.Expect(pauseAudits(logs, string(undo.UID))).To(Equal([]pauseAudit{
				{Msg: "autoPromote resume", UID: string(undo.UID), ResumedBy: "oncall", Reason: batonv1alpha1.ResumeNotPausedReason},
			}))
		}).Should(Succeed())
	})

	It("lets manual Promotions run while paused, keeps the paused Promotion past promotionHistoryLimit, and ignores a resume whose marker does not verify", func() {
		s := newStage(ctx, web0, func(e *batonv1alpha1.Environment) { e.Spec.PauseOnFailure, e.Spec.PromotionHistoryLimit = true, 1 })
		s.shipToStaging(ctx, web2)
		s.shipToStaging(ctx, web3)
		broken := s.promotion(ctx, "production", "broken-", web2, nil)
		expectPhase(ctx, broken, batonv1alpha1.PromotionRollingOut)
		Expect(testenv.RolloutFailed(ctx, k8sClient, s.prodDep, "boom")).To(Succeed())
		expectPhase(ctx, broken, batonv1alpha1.PromotionFailed)
		Expect(pauseOf(ctx, s.production)).NotTo(BeNil())

		fix := s.promoteProduction(ctx, web3)
		Expect(fix.Status.Phase).To(Equal(batonv1alpha1.PromotionSucceeded))
		Expect(pauseOf(ctx, s.production).Promotion.Name).To(Equal(broken.Name), "a manual success does not resume")
		// A second one: retention (limit 1) deletes the first fix, and
		// keeps the Promotion that paused autoPromote.
		// (Named to sort after "to-prod-": both may be created in the same second.)
		again := s.promotion(ctx, "production", "update-", web3, nil)
		expectPhase(ctx, again, batonv1alpha1.PromotionSucceeded)
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(fix), &batonv1alpha1.Promotion{}))
		}).Should(BeTrue(), "retention deleted the older fix")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(broken), broken)).To(Succeed())

		// Set behind the webhook: resumedBy is not sealed. The engine lets
		// it go again, and the pause stays.
		expectLetGoAgain(ctx, broken)
		base := broken.DeepCopy()
		broken.Spec.Resume, broken.Spec.ResumedBy = true, &batonv1alpha1.UserInfo{Username: "mallory"}
		delete(broken.Labels, batonv1alpha1.FinishedLabel)
		Expect(k8sClient.Patch(ctx, broken, client.MergeFrom(base))).To(Succeed())
		expectLetGoAgain(ctx, broken)
		Expect(pauseOf(ctx, s.production)).NotTo(BeNil())
		Consistently(func(g Gomega) {
			g.Expect(resumeNote(ctx, g, s.production, broken, batonv1alpha1.AutoPromoteResumedReason)).To(BeEmpty())
		}).WithTimeout(time.Second).Should(Succeed())
	})
})

var _ = Describe("pauseOnFailure holds spec.source deploys", Ordered, func() {
	var (
		ctx = context.Background()
		srv *gittestserver.GitServer
	)
	BeforeAll(func() { srv = gitServer() })

	It("keeps the merge that comes after a failed deploy Queued, and deploys it on resume", func() {
		DeferCleanup(startPromotionManager(nil))
		repo := newAppRepo(srv)
		c0 := repo.head()
		s := newStage(ctx, web1, nil)
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.staging), s.staging)).To(Succeed())
		base := s.staging.DeepCopy()
		s.staging.Spec.PauseOnFailure = true
		Expect(k8sClient.Patch(ctx, s.staging, client.MergeFrom(base))).To(Succeed())
		s.follow(ctx, repo, time.Second)

		broken := s.srcPromotion(ctx, c0)
		expectPhase(ctx, broken, batonv1alpha1.PromotionRollingOut)
		Expect(testenv.RolloutFailed(ctx, k8sClient, s.stagingDep, "crash loop")).To(Succeed())
		expectPhase(ctx, broken, batonv1alpha1.PromotionFailed)
		Expect(pauseOf(ctx, s.staging).Promotion.Name).To(Equal(broken.Name))

		c1 := repo.merge("Fix the crash")
		next := s.srcPromotion(ctx, c1)
		expectHeld(ctx, next, batonv1alpha1.AutoPromotePausedReason,
			"Promotion "+broken.Name+" failed (spec.pauseOnFailure)", "kubectl promote resume staging")
		Expect(imageOf(ctx, s.stagingDep)).To(Equal(webImage(c0)), "the merge waits")

		resumeAs(ctx, broken, "oncall")
		s.completeRollout(ctx, s.stagingDep, webImage(c1))
		expectPhase(ctx, next, batonv1alpha1.PromotionSucceeded)
		Expect(pauseOf(ctx, s.staging)).To(BeNil())
	})
})
