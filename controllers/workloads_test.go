package controllers

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testenv"
	"github.com/baton-dev/baton/internal/testing/builder"
)

// withWorker is a stage whose production runs two process types of one
// image: the web Deployment and a worker Deployment, moved together.
func withWorker(ctx context.Context, autoRollback bool) (*stage, *appsv1.Deployment) {
	GinkgoHelper()
	var worker *appsv1.Deployment
	s := newStage(ctx, web0, func(e *batonv1alpha1.Environment) {
		worker = builder.Deployment(e.Namespace, "worker-production").Replicas(1).Container("worker", web0).Build()
		Expect(k8sClient.Create(ctx, worker)).To(Succeed())
		Expect(testenv.RolloutComplete(ctx, k8sClient, worker)).To(Succeed())
		e.Spec.Workloads = []batonv1alpha1.WorkloadReference{
			*e.Spec.Workload,
			{Kind: batonv1alpha1.WorkloadKindDeployment, Name: "worker-production", Container: "worker"},
		}
		e.Spec.Workload = nil
		e.Spec.Rollout.AutoRollback = autoRollback
	})
	return s, worker
}

var _ = Describe("An Environment of several workloads", func() {
	var (
		ctx  context.Context
		stop func()
	)
	BeforeEach(func() {
		ctx = context.Background()
		stop = startPromotionManager(nil)
	})
	AfterEach(func() { stop() })

	It("moves web and worker together, one apply each, and succeeds only once both rolled out", func() {
		s, worker := withWorker(ctx, false)
		s.shipToStaging(ctx, web2)
		p := s.promotion(ctx, "production", "to-prod-", web2, nil)
		s.completeRollout(ctx, s.prodDep, web2)
		Eventually(func() string { return imageOf(ctx, worker) }).Should(Equal(web2))

		// web is done and the worker is not: the Environment says so, and
		// the Promotion waits for it.
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), s.production)).To(Succeed())
			ready := condition(s.production, batonv1alpha1.ReadyCondition)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Message).To(ContainSubstring("Deployment " + s.ns + "/worker-production"))
		}).Should(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
		Expect(p.Status.Phase).To(Equal(batonv1alpha1.PromotionRollingOut), "the worker has not rolled out yet")
		Expect(p.Status.Patch).To(And(ContainSubstring("Deployment "+s.ns+"/web-production container web"),
			ContainSubstring("Deployment "+s.ns+"/worker-production container worker")))

		s.completeRollout(ctx, worker, web2)
		expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
		history := historyOf(ctx, s.production)
		Expect(history[len(history)-1].Image).To(Equal(web2))
		Expect(history[len(history)-1].Workloads).To(Equal([]string{
			"Deployment/" + s.ns + "/web-production", "Deployment/" + s.ns + "/worker-production"}))
	})

	It("fails the Promotion naming the worker that did not roll out, and the automatic rollback moves both back", func() {
		s, worker := withWorker(ctx, true)
		s.shipToStaging(ctx, web2)
		p := s.promotion(ctx, "production", "to-prod-", web2, nil)
		s.completeRollout(ctx, s.prodDep, web2)
		Eventually(func() string { return imageOf(ctx, worker) }).Should(Equal(web2))
		Expect(testenv.RolloutFailed(ctx, k8sClient, worker, `ReplicaSet "worker-production-2" has timed out progressing.`)).To(Succeed())

		expectPhase(ctx, p, batonv1alpha1.PromotionFailed)
		Expect(readyReason(p)).To(Equal(batonv1alpha1.RolloutFailedReason))
		Expect(readyMessage(p)).To(ContainSubstring("Deployment " + s.ns + "/worker-production"))
		undo := &batonv1alpha1.Promotion{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: p.Name + "-rollback"}, undo)).To(Succeed())
		s.completeRollout(ctx, s.prodDep, web0)
		s.completeRollout(ctx, worker, web0)
		expectPhase(ctx, undo, batonv1alpha1.PromotionSucceeded)
		Expect(imageOf(ctx, s.prodDep)).To(Equal(web0))
		Expect(imageOf(ctx, worker)).To(Equal(web0))
	})

	It("records one process type changed by hand as drift, naming it, and does not verify", func() {
		s, worker := withWorker(ctx, false)
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(worker), worker)).To(Succeed())
		worker.Spec.Template.Spec.Containers[0].Image = web3
		Expect(k8sClient.Update(ctx, worker)).To(Succeed())
		Expect(testenv.RolloutComplete(ctx, k8sClient, worker)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), s.production)).To(Succeed())
			drifted := condition(s.production, batonv1alpha1.DriftedCondition)
			g.Expect(drifted).NotTo(BeNil())
			g.Expect(drifted.Reason).To(Equal(batonv1alpha1.WorkloadsDisagreeReason))
			g.Expect(drifted.Message).To(ContainSubstring(`container "worker" of Deployment ` + s.ns + "/worker-production runs " + web3))
			g.Expect(s.production.Status.Current.Image).To(Equal(web0), "the Environment's image stays the one it recorded")
			g.Expect(condition(s.production, batonv1alpha1.VerifiedCondition).Status).NotTo(Equal(metav1.ConditionTrue))
		}).Should(Succeed())
	})

	It("refuses a second Environment that names a workload the first one moves, and its Promotion touches nothing", func() {
		s, worker := withWorker(ctx, false)
		jobs := builder.Environment(s.ns, "jobs").Deployment("worker-production", "worker").Direct().SoakTime(0).Build()
		Expect(k8sClient.Create(ctx, jobs)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(jobs), jobs)).To(Succeed())
			stalled := condition(jobs, batonv1alpha1.StalledCondition)
			g.Expect(stalled).NotTo(BeNil())
			g.Expect(stalled.Reason).To(Equal(batonv1alpha1.WorkloadClaimedReason))
			g.Expect(stalled.Message).To(ContainSubstring("already belongs to Environment " + s.ns + "/production"))
		}).Should(Succeed())

		p := s.promotion(ctx, "jobs", "to-jobs-", web3, nil)
		expectPhase(ctx, p, batonv1alpha1.PromotionFailed)
		Expect(readyReason(p)).To(Equal(batonv1alpha1.WorkloadClaimedReason))
		Expect(imageOf(ctx, worker)).To(Equal(web0))
		// The first Environment is unaffected.
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), s.production)).To(Succeed())
		Expect(condition(s.production, batonv1alpha1.StalledCondition)).To(BeNil())
	})
})
