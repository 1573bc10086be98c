package controllers

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testenv"
	"github.com/baton-dev/baton/internal/testing/builder"
)

const (
	imageV1 = "registry.example.com/web:1.0"
	imageV2 = "registry.example.com/web:2.0"
	imageV3 = "registry.example.com/web:3.0"
	soak    = 5 * time.Minute
)

// newWorkload starts a workload of the given kind running image in its "web"
// container, beside a proxy.
func newWorkload(kind batonv1alpha1.WorkloadKind, ns, name, image string) *builder.WorkloadBuilder[client.Object] {
	return builder.Workload(kind, ns, name).Replicas(2).
		Container("web", image).Container("proxy", "registry.example.com/proxy:1")
}

// environment starts an Environment on the "web" container of a workload,
// delivered directly, with the suite's soak time.
func environment(ns, name string, kind batonv1alpha1.WorkloadKind, workload string) *builder.EnvironmentBuilder {
	return builder.Environment(ns, name).Workload(kind, workload, "web").Direct().SoakTime(soak)
}

func fetch(g Gomega, env *batonv1alpha1.Environment) *batonv1alpha1.Environment {
	got := &batonv1alpha1.Environment{}
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(env), got)).To(Succeed())
	return got
}

// expectCondition asserts a condition's status and reason.
func expectCondition(g Gomega, env *batonv1alpha1.Environment, conditionType string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	c := apimeta.FindStatusCondition(env.Status.Conditions, conditionType)
	g.Expect(c).NotTo(BeNil(), "no %s condition in %+v", conditionType, env.Status.Conditions)
	g.Expect(c.Status).To(Equal(status), "%s: %s", conditionType, c.Message)
	g.Expect(c.Reason).To(Equal(reason), "%s: %s", conditionType, c.Message)
	return c
}

// setImage changes the web container's image, as a person or a GitOps tool
// outside Baton would.
func setImage(ctx context.Context, obj client.Object, image string) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		switch w := obj.(type) {
		case *appsv1.Deployment:
			w.Spec.Template.Spec.Containers[0].Image = image
		case *appsv1.StatefulSet:
			w.Spec.Template.Spec.Containers[0].Image = image
		case *appsv1.DaemonSet:
			w.Spec.Template.Spec.Containers[0].Image = image
		}
		return k8sClient.Update(ctx, obj)
	})).To(Succeed())
}

// poke makes the reconciler look again, after the fake clock moved: a
// RequeueAfter waits on the real clock.
func poke(ctx context.Context, env *batonv1alpha1.Environment) {
	GinkgoHelper()
	patch := client.MergeFrom(env.DeepCopy())
	env.Annotations = map[string]string{"test.baton.dev/poke": fmt.Sprint(time.Now().UnixNano())}
	Expect(k8sClient.Patch(ctx, env, patch)).To(Succeed())
}

// updateSpec changes the Environment's spec and returns its new generation.
func updateSpec(ctx context.Context, env *batonv1alpha1.Environment, mutate func(*batonv1alpha1.Environment)) int64 {
	GinkgoHelper()
	got := &batonv1alpha1.Environment{}
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(env), got); err != nil {
			return err
		}
		mutate(got)
		return k8sClient.Update(ctx, got)
	})).To(Succeed())
	Expect(got.Generation).To(BeNumerically(">", env.Generation), "the change left the spec as it was")
	return got.Generation
}

// expectEvent asserts the Environment got an Event with this reason.
func expectEvent(g Gomega, env *batonv1alpha1.Environment, eventType, reason string) {
	var list eventsv1.EventList
	g.Expect(k8sClient.List(context.Background(), &list, client.InNamespace(env.Namespace))).To(Succeed())
	var seen []string
	for _, e := range list.Items {
		if e.Regarding.Name == env.Name && e.Regarding.Kind == "Environment" {
			if e.Type == eventType && e.Reason == reason {
				return
			}
			seen = append(seen, e.Type+"/"+e.Reason)
		}
	}
	g.Expect(seen).To(ContainElement(eventType+"/"+reason), "no %s %s Event for Environment %s", eventType, reason, env.Name)
}

func revisionsOf(env *batonv1alpha1.Environment) []string {
	var h []string
	for _, r := range env.Status.History {
		h = append(h, fmt.Sprintf("%d %s %s", r.Revision, r.Image, r.Result))
	}
	return h
}

var _ = Describe("The Environment reconciler", func() {
	var ctx context.Context
	BeforeEach(func() { ctx = context.Background() })

	It("adopts, soaks on the clock, restarts the soak on an unhealthy moment, verifies, and records drift without reverting it", func() {
		ns := newNamespace(ctx)
		workload := newWorkload(batonv1alpha1.WorkloadKindDeployment, ns, "web", imageV1).Build()
		Expect(k8sClient.Create(ctx, workload)).To(Succeed())
		env := environment(ns, "staging", batonv1alpha1.WorkloadKindDeployment, "web").Build()
		Expect(k8sClient.Create(ctx, env)).To(Succeed())

		By("waiting while the rollout has not been observed")
		Eventually(func(g Gomega) {
			got := fetch(g, env)
			expectCondition(g, got, batonv1alpha1.ReadyCondition, metav1.ConditionFalse, batonv1alpha1.RolloutInProgressReason)
			expectCondition(g, got, batonv1alpha1.ReconcilingCondition, metav1.ConditionTrue, batonv1alpha1.RolloutInProgressReason)
			g.Expect(got.Status.Current.Image).To(Equal(imageV1))
			g.Expect(got.Status.History).To(BeEmpty(), "nothing is adopted before the workload is healthy")
		}).Should(Succeed())

		By("adopting the healthy workload as revision 1 and starting the soak")
		start := fakeClock.Now()
		Expect(testenv.RolloutComplete(ctx, k8sClient, workload)).To(Succeed())
		Eventually(func(g Gomega) {
			got := fetch(g, env)
			g.Expect(revisionsOf(got)).To(Equal([]string{"1 " + imageV1 + " Adopted"}))
			g.Expect(got.Status.Current.Revision).To(BeEquivalentTo(1))
			expectCondition(g, got, batonv1alpha1.ReadyCondition, metav1.ConditionTrue, batonv1alpha1.HealthyReason)
			c := expectCondition(g, got, batonv1alpha1.VerifiedCondition, metav1.ConditionUnknown, batonv1alpha1.SoakingReason)
			g.Expect(c.LastTransitionTime.Time).To(BeTemporally("==", start))
			g.Expect(apimeta.FindStatusCondition(got.Status.Conditions, batonv1alpha1.ReconcilingCondition)).To(BeNil())
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			expectEvent(g, got, corev1.EventTypeNormal, batonv1alpha1.AdoptedReason)
		}).Should(Succeed())

		By("breaking the streak with an unhealthy moment four minutes in")
		fakeClock.Step(4 * time.Minute)
		Expect(testenv.RolloutProgressing(ctx, k8sClient, workload)).To(Succeed())
		Eventually(func(g Gomega) {
			expectCondition(g, fetch(g, env), batonv1alpha1.VerifiedCondition, metav1.ConditionFalse, batonv1alpha1.RolloutInProgressReason)
		}).Should(Succeed())
		restart := fakeClock.Now()
		Expect(testenv.RolloutComplete(ctx, k8sClient, workload)).To(Succeed())
		Eventually(func(g Gomega) {
			c := expectCondition(g, fetch(g, env), batonv1alpha1.VerifiedCondition, metav1.ConditionUnknown, batonv1alpha1.SoakingReason)
			g.Expect(c.LastTransitionTime.Time).To(BeTemporally("==", restart), "the soak must start again")
		}).Should(Succeed())

		By("not verifying at the original deadline, which the break moved")
		fakeClock.Step(4 * time.Minute) // 8 minutes after the first start, 4 after the restart
		// A spec change rather than a poke (this spec never has 20 revisions):
		// the reconcile that judges the soak at the new time shows as
		// observedGeneration, on the status and on the Verified condition.
		generation := updateSpec(ctx, env, func(e *batonv1alpha1.Environment) { e.Spec.HistoryLimit = 20 })
		Eventually(func(g Gomega) {
			got := fetch(g, env)
			g.Expect(got.Status.ObservedGeneration).To(Equal(generation))
			c := expectCondition(g, got, batonv1alpha1.VerifiedCondition, metav1.ConditionUnknown, batonv1alpha1.SoakingReason)
			g.Expect(c.ObservedGeneration).To(Equal(generation))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			got := fetch(g, env)
			g.Expect(got.Status.VerifiedImages).To(BeEmpty())
			expectCondition(g, got, batonv1alpha1.VerifiedCondition, metav1.ConditionUnknown, batonv1alpha1.SoakingReason)
		}, 2*time.Second).Should(Succeed())

		By("verifying once the soak time has passed without a break")
		fakeClock.Step(time.Minute)
		poke(ctx, env)
		Eventually(func(g Gomega) {
			got := fetch(g, env)
			g.Expect(got.Status.VerifiedImages).To(HaveLen(1))
			g.Expect(got.Status.VerifiedImages[0].Image).To(Equal(imageV1))
			g.Expect(got.Status.VerifiedImages[0].VerifiedAt.Time).To(BeTemporally("==", restart.Add(soak)))
			expectCondition(g, got, batonv1alpha1.VerifiedCondition, metav1.ConditionTrue, batonv1alpha1.VerifiedReason)
			expectEvent(g, got, corev1.EventTypeNormal, batonv1alpha1.VerifiedReason)
		}).Should(Succeed())

		By("recording an image change made outside Baton as External, and never reverting it")
		fakeClock.Step(time.Hour)
		setImage(ctx, workload, imageV2)
		Eventually(func(g Gomega) {
			got := fetch(g, env)
			g.Expect(revisionsOf(got)).To(Equal([]string{"1 " + imageV1 + " Adopted", "2 " + imageV2 + " External"}))
			g.Expect(got.Status.Current.Image).To(Equal(imageV2))
			g.Expect(got.Status.Current.Revision).To(BeEquivalentTo(2))
			g.Expect(got.Status.Current.Since.Time).To(BeTemporally("==", fakeClock.Now()))
			c := expectCondition(g, got, batonv1alpha1.DriftedCondition, metav1.ConditionTrue, batonv1alpha1.ExternalChangeReason)
			g.Expect(c.Message).To(ContainSubstring(imageV1))
			g.Expect(c.Message).To(ContainSubstring(imageV2))
			expectEvent(g, got, corev1.EventTypeWarning, batonv1alpha1.ExternalChangeReason)
			By("keeping the image verified before the environment moved on")
			g.Expect(got.Status.VerifiedImages).To(HaveLen(1))
			g.Expect(got.Status.VerifiedImages[0].Image).To(Equal(imageV1))
		}).Should(Succeed())
		current := &appsv1.Deployment{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(workload), current)).To(Succeed())
		Expect(current.Spec.Template.Spec.Containers[0].Image).To(Equal(imageV2))

		By("leaving the history to the Promotion that holds the lease, and keeping the lease")
		// The holder exists: a lease whose holder is gone is released.
		holder := builder.Promotion(env.Namespace, "web-to-3").Environment("elsewhere").Image(imageV3).Build()
		Expect(k8sClient.Create(ctx, holder)).To(Succeed())
		lease := &batonv1alpha1.ObjectRef{Name: holder.Name, UID: string(holder.UID)}
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			got := &batonv1alpha1.Environment{}
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(env), got); err != nil {
				return err
			}
			got.Status.ActivePromotion = lease
			return k8sClient.Status().Update(ctx, got)
		})).To(Succeed())
		setImage(ctx, workload, imageV3)
		Eventually(func(g Gomega) {
			got := fetch(g, env)
			g.Expect(got.Status.Current.Image).To(Equal(imageV3))
			g.Expect(got.Status.ActivePromotion).To(Equal(lease))
			g.Expect(revisionsOf(got)).To(HaveLen(2), "the Promotion engine records its own revision")
		}).Should(Succeed())
	})

	DescribeTable("judges every workload kind as kubectl rollout status does",
		func(kind batonv1alpha1.WorkloadKind) {
			ns := newNamespace(ctx)
			workload := newWorkload(kind, ns, "web", imageV1).Build()
			Expect(k8sClient.Create(ctx, workload)).To(Succeed())
			env := environment(ns, "staging", kind, "web").Build()
			Expect(k8sClient.Create(ctx, env)).To(Succeed())

			Expect(testenv.RolloutProgressing(ctx, k8sClient, workload)).To(Succeed())
			Eventually(func(g Gomega) {
				got := fetch(g, env)
				expectCondition(g, got, batonv1alpha1.ReadyCondition, metav1.ConditionFalse, batonv1alpha1.RolloutInProgressReason)
				g.Expect(got.Status.History).To(BeEmpty())
			}).Should(Succeed())

			Expect(testenv.RolloutComplete(ctx, k8sClient, workload)).To(Succeed())
			Eventually(func(g Gomega) {
				got := fetch(g, env)
				expectCondition(g, got, batonv1alpha1.ReadyCondition, metav1.ConditionTrue, batonv1alpha1.HealthyReason)
				g.Expect(revisionsOf(got)).To(Equal([]string{"1 " + imageV1 + " Adopted"}))
				g.Expect(got.Status.Current.Image).To(Equal(imageV1))
			}).Should(Succeed())
		},
		Entry("Deployment", batonv1alpha1.WorkloadKindDeployment),
		Entry("StatefulSet", batonv1alpha1.WorkloadKindStatefulSet),
		Entry("DaemonSet", batonv1alpha1.WorkloadKindDaemonSet),
	)

	It("reports a failed rollout with the Deployment's own message", func() {
		ns := newNamespace(ctx)
		workload := newWorkload(batonv1alpha1.WorkloadKindDeployment, ns, "web", imageV1).Build()
		Expect(k8sClient.Create(ctx, workload)).To(Succeed())
		env := environment(ns, "staging", batonv1alpha1.WorkloadKindDeployment, "web").Build()
		Expect(k8sClient.Create(ctx, env)).To(Succeed())
		const msg = `ReplicaSet "web-5d9c" has timed out progressing.`
		Expect(testenv.RolloutFailed(ctx, k8sClient, workload, msg)).To(Succeed())
		Eventually(func(g Gomega) {
			got := fetch(g, env)
			c := expectCondition(g, got, batonv1alpha1.ReadyCondition, metav1.ConditionFalse, batonv1alpha1.RolloutFailedReason)
			g.Expect(c.Message).To(ContainSubstring(msg))
			expectCondition(g, got, batonv1alpha1.VerifiedCondition, metav1.ConditionFalse, batonv1alpha1.RolloutFailedReason)
		}).Should(Succeed())
	})

	It("uses a workload in another namespace that names this Environment in its annotation", func() {
		ns, other := newNamespace(ctx), newNamespace(ctx)
		workload := newWorkload(batonv1alpha1.WorkloadKindDeployment, other, "web", imageV1).AuthorizedFor(ns, "staging").Build()
		Expect(k8sClient.Create(ctx, workload)).To(Succeed())
		Expect(testenv.RolloutComplete(ctx, k8sClient, workload)).To(Succeed())
		env := environment(ns, "staging", batonv1alpha1.WorkloadKindDeployment, "web").WorkloadNamespace(other).Build()
		Expect(k8sClient.Create(ctx, env)).To(Succeed())
		Eventually(func(g Gomega) {
			got := fetch(g, env)
			expectCondition(g, got, batonv1alpha1.ReadyCondition, metav1.ConditionTrue, batonv1alpha1.HealthyReason)
			g.Expect(apimeta.FindStatusCondition(got.Status.Conditions, batonv1alpha1.StalledCondition)).To(BeNil())
		}).Should(Succeed())
	})

	It("clears UpstreamNotFound once the upstream exists", func() {
		ns := newNamespace(ctx)
		workload := newWorkload(batonv1alpha1.WorkloadKindDeployment, ns, "web", imageV1).Build()
		Expect(k8sClient.Create(ctx, workload)).To(Succeed())
		Expect(testenv.RolloutComplete(ctx, k8sClient, workload)).To(Succeed())
		env := environment(ns, "production", batonv1alpha1.WorkloadKindDeployment, "web").Upstream("staging").Build()
		Expect(k8sClient.Create(ctx, env)).To(Succeed())
		Eventually(func(g Gomega) {
			expectCondition(g, fetch(g, env), batonv1alpha1.StalledCondition, metav1.ConditionTrue, batonv1alpha1.UpstreamNotFoundReason)
		}).Should(Succeed())

		Expect(k8sClient.Create(ctx, environment(ns, "staging", batonv1alpha1.WorkloadKindDeployment, "other").Build())).To(Succeed())
		Eventually(func(g Gomega) {
			got := fetch(g, env)
			g.Expect(apimeta.FindStatusCondition(got.Status.Conditions, batonv1alpha1.StalledCondition)).To(BeNil())
			expectCondition(g, got, batonv1alpha1.ReadyCondition, metav1.ConditionTrue, batonv1alpha1.HealthyReason)
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		}).Should(Succeed())
	})

	It("sets Suspended while spec.suspend is set, and keeps watching the workload", func() {
		ns := newNamespace(ctx)
		workload := newWorkload(batonv1alpha1.WorkloadKindDeployment, ns, "web", imageV1).Build()
		Expect(k8sClient.Create(ctx, workload)).To(Succeed())
		Expect(testenv.RolloutComplete(ctx, k8sClient, workload)).To(Succeed())
		env := environment(ns, "staging", batonv1alpha1.WorkloadKindDeployment, "web").Suspend().Build()
		Expect(k8sClient.Create(ctx, env)).To(Succeed())
		Eventually(func(g Gomega) {
			got := fetch(g, env)
			expectCondition(g, got, batonv1alpha1.SuspendedCondition, metav1.ConditionTrue, batonv1alpha1.SuspendedReason)
			expectCondition(g, got, batonv1alpha1.ReadyCondition, metav1.ConditionTrue, batonv1alpha1.HealthyReason)
		}).Should(Succeed())
	})

	type stallCase struct {
		// arrange creates what the case needs and returns the Environment and
		// the workload that must stay untouched (nil when there is none).
		arrange func(ns, other string) (*batonv1alpha1.Environment, client.Object)
		reason  string
		message string
	}
	DescribeTable("stalls with a specific reason and an actionable message, and never touches the workload",
		func(tc stallCase) {
			ns, other := newNamespace(ctx), newNamespace(ctx)
			env, workload := tc.arrange(ns, other)
			var before string
			if workload != nil {
				Expect(k8sClient.Create(ctx, workload)).To(Succeed())
				before = workload.GetResourceVersion()
			}
			Expect(k8sClient.Create(ctx, env)).To(Succeed())
			Eventually(func(g Gomega) {
				got := fetch(g, env)
				c := expectCondition(g, got, batonv1alpha1.StalledCondition, metav1.ConditionTrue, tc.reason)
				g.Expect(c.Message).To(ContainSubstring(tc.message))
				expectCondition(g, got, batonv1alpha1.ReadyCondition, metav1.ConditionFalse, tc.reason)
				g.Expect(got.Status.ObservedGeneration).To(BeZero(), "observedGeneration is set only on success")
				expectEvent(g, got, corev1.EventTypeWarning, tc.reason)
			}).Should(Succeed())
			if workload != nil {
				Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(workload), workload)).To(Succeed())
				Expect(workload.GetResourceVersion()).To(Equal(before), "the workload was changed")
			}
		},
		Entry("the workload does not exist", stallCase{
			arrange: func(ns, _ string) (*batonv1alpha1.Environment, client.Object) {
				return environment(ns, "staging", batonv1alpha1.WorkloadKindDeployment, "missing").Build(), nil
			},
			reason: batonv1alpha1.WorkloadNotFoundReason, message: "/missing does not exist; create it or fix spec.workload",
		}),
		Entry("the workload is of another kind than spec.workload.kind", stallCase{
			arrange: func(ns, _ string) (*batonv1alpha1.Environment, client.Object) {
				return environment(ns, "staging", batonv1alpha1.WorkloadKindStatefulSet, "web").Build(),
					newWorkload(batonv1alpha1.WorkloadKindDeployment, ns, "web", imageV1).Build()
			},
			reason: batonv1alpha1.WorkloadNotFoundReason, message: "StatefulSet",
		}),
		Entry("the container does not exist", stallCase{
			arrange: func(ns, _ string) (*batonv1alpha1.Environment, client.Object) {
				return builder.Environment(ns, "staging").Deployment("web", "api").Direct().SoakTime(soak).Build(),
					newWorkload(batonv1alpha1.WorkloadKindDeployment, ns, "web", imageV1).Build()
			},
			reason: batonv1alpha1.ContainerNotFoundReason, message: `has no container "api" (it has: web, proxy); fix spec.workload.container`,
		}),
		Entry("a workload in another namespace without the annotation", stallCase{
			arrange: func(ns, other string) (*batonv1alpha1.Environment, client.Object) {
				return environment(ns, "staging", batonv1alpha1.WorkloadKindDeployment, "web").WorkloadNamespace(other).Build(),
					newWorkload(batonv1alpha1.WorkloadKindDeployment, other, "web", imageV1).Build()
			},
			reason: batonv1alpha1.WorkloadNotAuthorizedReason, message: `promotion.baton.dev/authorized-environment is ""; set it to`,
		}),
		Entry("a workload in another namespace whose annotation names another Environment", stallCase{
			arrange: func(ns, other string) (*batonv1alpha1.Environment, client.Object) {
				return environment(ns, "staging", batonv1alpha1.WorkloadKindDeployment, "web").WorkloadNamespace(other).Build(),
					newWorkload(batonv1alpha1.WorkloadKindDeployment, other, "web", imageV1).AuthorizedFor(ns, "production").Build()
			},
			reason: batonv1alpha1.WorkloadNotAuthorizedReason, message: "/production\"; set it to",
		}),
		Entry("the upstream does not exist", stallCase{
			arrange: func(ns, _ string) (*batonv1alpha1.Environment, client.Object) {
				return environment(ns, "production", batonv1alpha1.WorkloadKindDeployment, "web").Upstream("staging").Build(),
					newWorkload(batonv1alpha1.WorkloadKindDeployment, ns, "web", imageV1).Build()
			},
			reason: batonv1alpha1.UpstreamNotFoundReason, message: `spec.upstream names Environment "staging", which does not exist`,
		}),
		Entry("a StatefulSet with the OnDelete update strategy", stallCase{
			arrange: func(ns, _ string) (*batonv1alpha1.Environment, client.Object) {
				w := newWorkload(batonv1alpha1.WorkloadKindStatefulSet, ns, "web", imageV1).Build().(*appsv1.StatefulSet)
				w.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
				return environment(ns, "staging", batonv1alpha1.WorkloadKindStatefulSet, "web").Build(), w
			},
			reason: batonv1alpha1.UnsupportedUpdateStrategyReason, message: "needs the RollingUpdate strategy",
		}),
	)
})
