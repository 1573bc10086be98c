//go:build e2e

package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/release"
	"github.com/baton-dev/baton/internal/testing/builder"
)

// A twelve-factor app: one image, two process types. The web Deployment is
// where newEnvironment puts it; the worker runs in a namespace of its own,
// so that a ResourceQuota there can keep its rollout from making progress
// without touching web.
var _ = Describe("twelve-factor: web and worker", Ordered, func() {
	const env = "tf"
	workerNS := workloadNS(env) + "-worker"
	var worker *appsv1.Deployment

	workerAt := func(g Gomega, image string) {
		d := &appsv1.Deployment{}
		g.Expect(carol.Get(suiteCtx, types.NamespacedName{Namespace: workerNS, Name: "worker"}, d)).To(Succeed())
		g.Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal(image))
		g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
		g.Expect(d.Status.UpdatedReplicas).To(Equal(*d.Spec.Replicas))
		g.Expect(d.Status.AvailableReplicas).To(Equal(*d.Spec.Replicas))
		g.Expect(d.Status.Replicas).To(Equal(*d.Spec.Replicas), "no old Pods left")
	}

	BeforeAll(func() {
		Expect(admin.Create(suiteCtx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: workerNS}})).To(Succeed())
		worker = builder.Deployment(workerNS, "worker").Replicas(2).Container("worker", image100).AuthorizedFor(ns, env).Build()
		worker.Spec.ProgressDeadlineSeconds = ptr.To[int32](15)
		Expect(admin.Create(suiteCtx, worker)).To(Succeed())
		Eventually(func(g Gomega) { workerAt(g, image100) }).WithTimeout(90 * time.Second).Should(Succeed())
		newEnvironment(env, func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) {
			s.Workloads = []batonv1alpha1.WorkloadReference{*s.Workload,
				{Kind: batonv1alpha1.WorkloadKindDeployment, Namespace: workerNS, Name: "worker", Container: "worker"}}
			s.Workload = nil
			s.Rollout.AutoRollback = true
		})
	})

	It("moves web and worker with one Promotion, and records both in the revision", func() {
		Expect(alice.Create(suiteCtx, promotion("tf-110", env, image110, "new checkout"))).To(Succeed())
		done := waitPhase("tf-110", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Expect(done.Status.Patch).To(And(ContainSubstring("Deployment "+workloadNS(env)+"/web container web"), ContainSubstring("Deployment "+workerNS+"/worker container worker")))
		Eventually(func(g Gomega) {
			expectDeployment(g, env, image110)
			workerAt(g, image110)
			e := getEnv(g, env)
			g.Expect(historyOf(e, "tf-110")).To(ConsistOf(And(
				HaveField("Result", batonv1alpha1.RevisionSucceeded),
				HaveField("Workloads", Equal([]string{"Deployment/" + workloadNS(env) + "/web", "Deployment/" + workerNS + "/worker"})))))
		}).WithTimeout(time.Minute).Should(Succeed())
	})

	It("fails a Promotion whose worker cannot roll out, naming it, and rolls both back", func() {
		// The worker's namespace has room for the Pods it runs and no more:
		// the surge Pod of its rollout is refused, and its progress
		// deadline (15 s) passes.
		quota := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: workerNS, Name: "full"},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("2")}}}
		Expect(admin.Create(suiteCtx, quota)).To(Succeed())
		DeferCleanup(func() { Expect(admin.Delete(suiteCtx, quota)).To(Succeed()) })
		Eventually(func(g Gomega) {
			q := &corev1.ResourceQuota{}
			g.Expect(admin.Get(suiteCtx, types.NamespacedName{Namespace: workerNS, Name: "full"}, q)).To(Succeed())
			g.Expect(q.Status.Used).To(HaveKeyWithValue(corev1.ResourcePods, resource.MustParse("2")), "the quota controller counted the worker's Pods")
		}).WithTimeout(time.Minute).Should(Succeed())

		Expect(alice.Create(suiteCtx, promotion("tf-120", env, image120, "new search"))).To(Succeed())
		failed := waitPhase("tf-120", batonv1alpha1.PromotionFailed, 2*time.Minute)
		Expect(conditionMessages(failed)).To(And(ContainSubstring(batonv1alpha1.RolloutFailedReason), ContainSubstring("Deployment "+workerNS+"/worker")))

		back := waitPhase("tf-120-rollback", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Expect(back.Status.Image).To(Equal(image110))
		Eventually(func(g Gomega) {
			expectDeployment(g, env, image110)
			workerAt(g, image110)
			e := getEnv(g, env)
			g.Expect(e.Status.Current.Image).To(Equal(image110))
			g.Expect(e.Status.RejectedImages).To(ContainElement(HaveField("Image", image120)))
		}).WithTimeout(time.Minute).Should(Succeed())
	})

	// The release phase, on the same two workloads: kwok completes a Job's
	// Pod, except for an image ending in -release-fails
	// (hack/dev/cluster/stages/pod-release-fails.yaml).
	Context("with a release Job", func() {
		const (
			image130    = "registry.example.com/web:1.3.0"
			imageBadMig = "registry.example.com/web:1.4.0-release-fails"
		)
		job := func(g Gomega, promotion string) *batchv1.Job {
			j := &batchv1.Job{}
			g.Expect(admin.Get(suiteCtx, types.NamespacedName{Namespace: ns, Name: release.JobName(promotion)}, j)).To(Succeed())
			return j
		}
		// replicaSetsOf lists the images of every ReplicaSet web and worker
		// have had, with when each was created: the trace a delivery leaves.
		replicaSetsOf := func(g Gomega) map[string]metav1.Time {
			out := map[string]metav1.Time{}
			for _, n := range []string{workloadNS(env), workerNS} {
				l := &appsv1.ReplicaSetList{}
				g.Expect(admin.List(suiteCtx, l, client.InNamespace(n))).To(Succeed())
				for _, rs := range l.Items {
					out[n+"/"+rs.Spec.Template.Spec.Containers[0].Image] = rs.CreationTimestamp
				}
			}
			return out
		}

		BeforeAll(func() {
			patch := `{"spec":{"release":{"timeout":"2m","job":{"template":{"spec":{"containers":[{"name":"migrate","command":["manage.py","migrate"]}]}}}}}}`
			Expect(admin.Patch(suiteCtx, &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: env}},
				client.RawPatch(types.MergePatchType, []byte(patch)))).To(Succeed())
		})

		It("runs the release Job with the new image, once, before it changes either workload", func() {
			Expect(alice.Create(suiteCtx, promotion("tf-130", env, image130, "add the orders table"))).To(Succeed())
			done := waitPhase("tf-130", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
			Expect(done.Status.Release).NotTo(BeNil())
			Expect(done.Status.Release.Job).To(Equal(release.JobName("tf-130")))
			Expect(done.Status.Release.Result).To(Equal(batonv1alpha1.ReleaseSucceeded))

			j := job(Default, "tf-130")
			Expect(j.Spec.Template.Spec.Containers[0].Image).To(Equal(image130))
			Expect(j.Spec.Template.Spec.Containers[0].Env).To(ContainElements(
				corev1.EnvVar{Name: "BATON_ENVIRONMENT", Value: env},
				corev1.EnvVar{Name: "BATON_IMAGE", Value: image130},
				corev1.EnvVar{Name: "BATON_PREVIOUS_IMAGE", Value: image110}))
			Expect(j.Status.Succeeded).To(Equal(int32(1)))
			Expect(j.Status.CompletionTime).NotTo(BeNil())
			Expect(metav1.GetControllerOf(j).UID).To(Equal(done.UID))

			Eventually(func(g Gomega) {
				expectDeployment(g, env, image130)
				workerAt(g, image130)
			}).WithTimeout(time.Minute).Should(Succeed())
			// Both Deployments made their ReplicaSet of image130 only once
			// the migration had completed.
			created := replicaSetsOf(Default)
			for _, n := range []string{workloadNS(env), workerNS} {
				Expect(created).To(HaveKey(n + "/" + image130))
				Expect(created[n+"/"+image130].Time.Before(j.Status.CompletionTime.Time)).To(BeFalse(),
					"%s's ReplicaSet of %s was created at %s, before the release Job completed at %s", n, image130, created[n+"/"+image130], j.Status.CompletionTime)
			}

			out, _, err := plugin("carol", "status", "tf-130")
			Expect(err).NotTo(HaveOccurred())
			Expect(out).To(MatchRegexp(`Release Job: +` + release.JobName("tf-130") + ` +Succeeded`))
		})

		It("fails a Promotion whose release Job fails, quoting it, and changes neither workload", func() {
			Expect(alice.Create(suiteCtx, promotion("tf-140", env, imageBadMig, "a broken migration"))).To(Succeed())
			failed := waitPhase("tf-140", batonv1alpha1.PromotionFailed, 2*time.Minute)
			Expect(hasReason(failed, batonv1alpha1.ReleaseFailedReason)).To(BeTrue(), conditionMessages(failed))
			Expect(conditionMessages(failed)).To(And(ContainSubstring(release.JobName("tf-140")), ContainSubstring("BackoffLimitExceeded"),
				ContainSubstring(`relation \"orders\" already exists`), ContainSubstring("no workload was changed")))
			Expect(failed.Status.Release).NotTo(BeNil())
			Expect(failed.Status.Release.Result).To(Equal(batonv1alpha1.ReleaseFailed))

			// The Promotion is over: had any workload been touched, its
			// ReplicaSet of the bad image would exist by now.
			Expect(replicaSetsOf(Default)).NotTo(Or(HaveKey(workloadNS(env)+"/"+imageBadMig), HaveKey(workerNS+"/"+imageBadMig)))
			Eventually(func(g Gomega) {
				expectDeployment(g, env, image130)
				workerAt(g, image130)
				e := getEnv(g, env)
				g.Expect(e.Status.Current.Image).To(Equal(image130))
				g.Expect(historyOf(e, "tf-140")).To(ConsistOf(HaveField("Result", batonv1alpha1.RevisionFailed)))
			}).WithTimeout(time.Minute).Should(Succeed())
		})

		It("rolls both back without running the release Job (oncall, who may roll back)", func() {
			back := builder.Promotion(ns, "tf-undo").Environment(env).Rollback(0).Reason("the orders page is slow").Build()
			Expect(oncall.Create(suiteCtx, back)).To(Succeed())
			done := waitPhase("tf-undo", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
			Expect(done.Status.Image).To(Equal(image110))
			Expect(done.Status.Release).To(BeNil())
			// Succeeded means delivery is over, and a release Job would have
			// been created before it.
			err := admin.Get(suiteCtx, types.NamespacedName{Namespace: ns, Name: release.JobName("tf-undo")}, &batchv1.Job{})
			Expect(apierrors.IsNotFound(err)).To(BeTrue(), "got %v", err)
			Eventually(func(g Gomega) {
				expectDeployment(g, env, image110)
				workerAt(g, image110)
			}).WithTimeout(time.Minute).Should(Succeed())
		})
	})
})
