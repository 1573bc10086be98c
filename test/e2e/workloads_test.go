//go:build e2e

package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
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
})
