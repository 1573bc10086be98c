package controllers

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/release"
	"github.com/baton-dev/baton/internal/testing/builder"
)

// withMigration gives an Environment a release Job that runs a migration.
func withMigration(env *batonv1alpha1.Environment) {
	env.Spec.Release = &batonv1alpha1.ReleasePhase{Job: batonv1alpha1.JobTemplate{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "migrate", Image: "placeholder", Command: []string{"manage.py", "migrate"}}},
	}}}}
}

// releaseJobs are the release Jobs into env.
func releaseJobs(ctx context.Context, g Gomega, env *batonv1alpha1.Environment) []batchv1.Job {
	jobs := &batchv1.JobList{}
	g.Expect(k8sClient.List(ctx, jobs, client.InNamespace(env.Namespace), client.MatchingLabels{release.EnvironmentLabel: env.Name},
		client.HasLabels{release.PromotionUIDLabel})).To(Succeed())
	return jobs.Items
}

// envtest runs no Job controller: these specs finish the release Job as
// it would (finishJob).
var _ = Describe("The release phase", func() {
	var (
		ctx  = context.Background()
		stop func()
	)
	AfterEach(func() {
		if stop != nil {
			stop()
			stop = nil
		}
	})
	// theJob is the one release Job of p, once Baton created it.
	theJob := func(s *stage, p *batonv1alpha1.Promotion) *batchv1.Job {
		GinkgoHelper()
		job := &batchv1.Job{}
		Eventually(func(g Gomega) {
			jobs := releaseJobs(ctx, g, s.production)
			g.Expect(jobs).To(HaveLen(1))
			*job = jobs[0]
		}).Should(Succeed())
		Expect(job.Name).To(Equal(p.Name + "-release"))
		Expect(job.Labels).To(HaveKeyWithValue(release.PromotionUIDLabel, string(p.UID)))
		return job
	}

	It("runs the release Job with the new image before the rollout, then delivers; a rollback skips it", func() {
		stop = startPromotionManager(nil)
		s := newStage(ctx, "registry.example.com/web:1", withMigration)
		s.shipToStaging(ctx, "registry.example.com/web:2")

		p := s.promotion(ctx, "production", "migrate-", "registry.example.com/web:2", nil)
		expectPhase(ctx, p, batonv1alpha1.PromotionReleasing)
		job := theJob(s, p)
		c := job.Spec.Template.Spec.Containers[0]
		Expect(c.Image).To(Equal("registry.example.com/web:2"))
		Expect(c.Env).To(ContainElements(
			corev1.EnvVar{Name: "BATON_IMAGE", Value: "registry.example.com/web:2"},
			corev1.EnvVar{Name: "BATON_PREVIOUS_IMAGE", Value: "registry.example.com/web:1"},
			corev1.EnvVar{Name: "BATON_REVISION", Value: "2"},
			corev1.EnvVar{Name: "BATON_PROMOTION", Value: p.Name},
			corev1.EnvVar{Name: "BATON_ENVIRONMENT", Value: "production"},
		))
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
			g.Expect(p.Status.Release).NotTo(BeNil())
			g.Expect(p.Status.Release.Result).To(Equal(batonv1alpha1.ReleaseRunning))
		}).Should(Succeed())
		Expect(imageOf(ctx, s.prodDep)).To(Equal("registry.example.com/web:1"), "no workload changes while the release runs")

		By("delivering once the Job succeeds: its end is a watch event")
		finishJob(ctx, job, true, "", "")
		s.completeRollout(ctx, s.prodDep, "registry.example.com/web:2")
		expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
		Expect(p.Status.Release.Result).To(Equal(batonv1alpha1.ReleaseSucceeded))
		Expect(p.Status.Release.FinishedAt).NotTo(BeNil())

		By("a rollback skips the release Job")
		undo := builder.Promotion(s.ns, "").GenerateName("undo-").Environment("production").Rollback(1).
			Reason("checkout errors").RequestedBy("alice").Build()
		Expect(k8sClient.Create(ctx, admitted(undo))).To(Succeed())
		s.completeRollout(ctx, s.prodDep, "registry.example.com/web:1")
		expectPhase(ctx, undo, batonv1alpha1.PromotionSucceeded)
		Expect(undo.Status.Release).To(BeNil())
		Eventually(func(g Gomega) { g.Expect(releaseJobs(ctx, g, s.production)).To(HaveLen(1)) }).Should(Succeed())
	})

	It("fails the Promotion with ReleaseFailed when the Job fails, quoting its Pod, and leaves the workload untouched", func() {
		stop = startPromotionManager(nil)
		s := newStage(ctx, "registry.example.com/web:1", func(env *batonv1alpha1.Environment) {
			withMigration(env)
			env.Spec.Rollout.AutoRollback = true
		})
		s.shipToStaging(ctx, "registry.example.com/web:2")
		generation := s.prodDep.Generation

		p := s.promotion(ctx, "production", "migrate-", "registry.example.com/web:2", nil)
		job := theJob(s, p)
		finishJob(ctx, job, false, "BackoffLimitExceeded", `django.db.utils.ProgrammingError: relation "orders" already exists`)
		expectPhase(ctx, p, batonv1alpha1.PromotionFailed)
		Expect(readyReason(p)).To(Equal(batonv1alpha1.ReleaseFailedReason))
		Expect(readyMessage(p)).To(And(ContainSubstring("BackoffLimitExceeded"), ContainSubstring(`relation \"orders\" already exists`),
			ContainSubstring("no workload was changed")))
		Expect(p.Status.Release.Result).To(Equal(batonv1alpha1.ReleaseFailed))
		Expect(p.Status.AutoRollback).To(BeNil(), "nothing changed, so nothing is rolled back")

		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.prodDep), s.prodDep)).To(Succeed())
		Expect(s.prodDep.Generation).To(Equal(generation))
		Expect(s.prodDep.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example.com/web:1"))
		history := historyOf(ctx, s.production)
		Expect(history[len(history)-1].Result).To(Equal(batonv1alpha1.RevisionFailed))
		Expect(s.production.Status.ActivePromotion).To(BeNil(), "the lease is released")
	})

	It("creates the Job once across a crash between creating it and recording it", func() {
		stop = startPromotionManager(nil)
		s := newStage(ctx, "registry.example.com/web:1", withMigration)
		s.shipToStaging(ctx, "registry.example.com/web:2")

		p := s.promotion(ctx, "production", "migrate-", "registry.example.com/web:2", nil)
		job := theJob(s, p)
		stop()
		stop = nil

		By("losing the record of the Job, as a crash before the status write would")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
		p.Status.Release = nil
		Expect(k8sClient.Status().Update(ctx, p)).To(Succeed())

		stop = startPromotionManager(nil)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
			g.Expect(p.Status.Release).NotTo(BeNil(), "the fresh manager finds the Job and records it")
		}).Should(Succeed())
		Expect(theJob(s, p).UID).To(Equal(job.UID), "the same Job: it was found, not created again")

		finishJob(ctx, job, true, "", "")
		s.completeRollout(ctx, s.prodDep, "registry.example.com/web:2")
		expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
	})
})
