package controllers

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testenv"
	"github.com/baton-dev/baton/internal/verification"
)

// smokeCheck is a job check running smokeImage.
func smokeCheck(smokeImage string) batonv1alpha1.VerificationCheck {
	return batonv1alpha1.VerificationCheck{Name: "smoke", Job: &batonv1alpha1.JobTemplate{
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "smoke", Image: smokeImage, Env: []corev1.EnvVar{{Name: "BATON_IMAGE", Value: "forged"}},
		}}}},
	}}
}

// envtest runs no Job controller: these specs play it, and finish the Job
// Baton created as the Job controller would, with its Pod.
var _ = Describe("Job checks", func() {
	ctx := context.Background()

	running := func(ns string) *appsv1.Deployment {
		GinkgoHelper()
		d := newWorkload(batonv1alpha1.WorkloadKindDeployment, ns, "web", imageV1).Build().(*appsv1.Deployment)
		Expect(k8sClient.Create(ctx, d)).To(Succeed())
		Expect(testenv.RolloutComplete(ctx, k8sClient, d)).To(Succeed())
		return d
	}
	// checkJob is the one Job of the check, once Baton created it.
	checkJob := func(env *batonv1alpha1.Environment) *batchv1.Job {
		GinkgoHelper()
		job := &batchv1.Job{}
		Eventually(func(g Gomega) {
			jobs := &batchv1.JobList{}
			g.Expect(k8sClient.List(ctx, jobs, client.InNamespace(env.Namespace),
				client.MatchingLabels{verification.JobEnvironmentLabel: env.Name, verification.JobCheckLabel: "smoke"})).To(Succeed())
			g.Expect(jobs.Items).To(HaveLen(1))
			*job = jobs.Items[0]
		}).Should(Succeed())
		return job
	}

	It("runs the check's Job for the image and revision, is pending while it runs, and passes once it succeeds", func() {
		ns := newNamespace(ctx)
		running(ns)
		env := environment(ns, "staging", batonv1alpha1.WorkloadKindDeployment, "web").SoakTime(0).Check(smokeCheck("registry.example.com/smoke:1")).Build()
		Expect(k8sClient.Create(ctx, env)).To(Succeed())

		job := checkJob(env)
		Expect(job.Name).To(HavePrefix("staging-smoke-r1-"))
		Expect(job.Annotations).To(HaveKeyWithValue(verification.JobImageAnnotation, imageV1))
		Expect(job.Spec.Template.Annotations).To(And(HaveKeyWithValue(verification.JobImageAnnotation, imageV1),
			HaveKeyWithValue(verification.JobRevisionAnnotation, "1")), "its Pods say what they test")
		Expect(job.OwnerReferences).To(ConsistOf(HaveField("Name", "staging")))
		Expect(job.Spec.Template.Spec.RestartPolicy).To(Equal(corev1.RestartPolicyNever))
		Expect(job.Spec.Template.Spec.Containers[0].Env).To(ConsistOf(
			corev1.EnvVar{Name: "BATON_IMAGE", Value: imageV1}, corev1.EnvVar{Name: "BATON_REVISION", Value: "1"},
			corev1.EnvVar{Name: "BATON_ENVIRONMENT", Value: "staging"}, corev1.EnvVar{Name: "BATON_NAMESPACE", Value: ns},
		), "Baton's variables replace the template's forged BATON_IMAGE")

		By("not verifying while the Job runs, although soakTime is 0")
		Eventually(func(g Gomega) {
			got := fetch(g, env)
			g.Expect(got.Status.Verification.Checks).To(HaveLen(1))
			cs := got.Status.Verification.Checks[0]
			g.Expect(cs.Verdict).To(Equal(batonv1alpha1.CheckInconclusive))
			g.Expect(cs.Reason).To(Equal(batonv1alpha1.CheckPendingReason))
			g.Expect(cs.Job).To(Equal(job.Name))
			g.Expect(cs.Revision).To(Equal(int64(1)))
			expectCondition(g, got, batonv1alpha1.VerifiedCondition, metav1.ConditionFalse, batonv1alpha1.CheckPendingReason)
			g.Expect(got.Status.VerifiedImages).To(BeEmpty())
		}).Should(Succeed())

		By("passing, and verifying the image, once the Job succeeds")
		finishJob(ctx, job, true, "", "")
		Eventually(func(g Gomega) {
			got := fetch(g, env)
			cs := got.Status.Verification.Checks[0]
			g.Expect(cs.Verdict).To(Equal(batonv1alpha1.CheckPass), cs.Message)
			g.Expect(cs.Message).To(ContainSubstring("Job " + job.Name + " succeeded"))
			expectCondition(g, got, batonv1alpha1.VerifiedCondition, metav1.ConditionTrue, batonv1alpha1.VerifiedReason)
			g.Expect(got.Status.VerifiedImages).To(ContainElement(HaveField("Image", imageV1)))
		}).Should(Succeed())

		By("running the Job once: another look creates no second Job")
		poke(ctx, env)
		Expect(checkJob(env).UID).To(Equal(job.UID))
	})

	It("fails the check when its Job fails, with the Job's reason and its Pod's termination message, and never verifies", func() {
		ns := newNamespace(ctx)
		running(ns)
		env := environment(ns, "staging", batonv1alpha1.WorkloadKindDeployment, "web").SoakTime(0).Check(smokeCheck("registry.example.com/smoke:1")).Build()
		Expect(k8sClient.Create(ctx, env)).To(Succeed())

		job := checkJob(env)
		finishJob(ctx, job, false, "BackoffLimitExceeded", "GET /checkout answered 500")
		Eventually(func(g Gomega) {
			got := fetch(g, env)
			cs := got.Status.Verification.Checks[0]
			g.Expect(cs.Verdict).To(Equal(batonv1alpha1.CheckFail), cs.Message)
			g.Expect(cs.Breached).To(BeTrue())
			g.Expect(cs.Value).To(Equal("BackoffLimitExceeded"))
			c := expectCondition(g, got, batonv1alpha1.VerifiedCondition, metav1.ConditionFalse, batonv1alpha1.CheckFailedReason)
			for _, m := range []string{cs.Message, c.Message} {
				g.Expect(m).To(And(ContainSubstring("Job "+job.Name+" failed (BackoffLimitExceeded"),
					ContainSubstring("smoke: Error (exit code 1): GET /checkout answered 500")))
			}
			g.Expect(got.Status.VerifiedImages).To(BeEmpty())
		}).Should(Succeed())

		By("staying failed: the soak never starts over for the same image and revision")
		fakeClock.Step(soak)
		poke(ctx, env)
		Eventually(func(g Gomega) {
			got := fetch(g, env)
			g.Expect(got.Annotations).To(HaveKey("test.baton.dev/poke"))
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			expectCondition(g, got, batonv1alpha1.VerifiedCondition, metav1.ConditionFalse, batonv1alpha1.CheckFailedReason)
			g.Expect(got.Status.VerifiedImages).To(BeEmpty())
		}).Should(Succeed())
		Expect(checkJob(env).UID).To(Equal(job.UID), "a failed Job is not run again")
	})
})

// finishJob ends job as the Job controller would: it succeeded, or failed
// with reason after its one Pod's container ended with exit code 1 and
// termination message.
func finishJob(ctx context.Context, job *batchv1.Job, succeeded bool, reason, termination string) {
	GinkgoHelper()
	finishJobIn(ctx, k8sClient, job, succeeded, reason, termination)
}

// finishJobIn is finishJob in the cluster of c.
func finishJobIn(ctx context.Context, c client.Client, job *batchv1.Job, succeeded bool, reason, termination string) {
	GinkgoHelper()
	now := metav1.NewTime(time.Now())
	if !succeeded {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: job.Namespace, Name: job.Name + "-pod",
				Labels: map[string]string{batchv1.ControllerUidLabel: string(job.UID), batchv1.JobNameLabel: job.Name}},
			Spec: *job.Spec.Template.Spec.DeepCopy(),
		}
		Expect(c.Create(ctx, pod)).To(Succeed())
		pod.Status = corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{
			Name: pod.Spec.Containers[0].Name, Image: pod.Spec.Containers[0].Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 1, Reason: "Error", Message: termination, StartedAt: now, FinishedAt: now}},
		}}}
		Expect(c.Status().Update(ctx, pod)).To(Succeed())
	}
	Expect(c.Get(ctx, client.ObjectKeyFromObject(job), job)).To(Succeed())
	job.Status.StartTime = &now
	if succeeded {
		job.Status.Succeeded, job.Status.CompletionTime = 1, &now
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonCompletionsReached, LastTransitionTime: now, LastProbeTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonCompletionsReached, LastTransitionTime: now, LastProbeTime: now},
		}
	} else {
		msg := "Job has reached the specified backoff limit"
		job.Status.Failed = 1
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: reason, Message: msg, LastTransitionTime: now, LastProbeTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: reason, Message: msg, LastTransitionTime: now, LastProbeTime: now},
		}
	}
	Expect(c.Status().Update(ctx, job)).To(Succeed())
}
