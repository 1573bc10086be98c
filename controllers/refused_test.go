package controllers

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testenv"
	"github.com/baton-dev/baton/internal/testing/builder"
)

var _ = Describe("A Promotion refused at delivery", func() {
	var stop func()
	BeforeEach(func() { stop = startPromotionManager(nil) })
	AfterEach(func() { stop() })

	It("does not wedge the Environment once the person fixed what the message said", func() {
		ctx := context.Background()
		ns, other := newNamespace(ctx), newNamespace(ctx)
		dep := builder.Deployment(other, "web").Replicas(2).Container("web", imageV1).Build()
		Expect(k8sClient.Create(ctx, dep)).To(Succeed())
		Expect(testenv.RolloutComplete(ctx, k8sClient, dep)).To(Succeed())
		env := builder.Environment(ns, "production").Deployment("web", "web").WorkloadNamespace(other).Direct().SoakTime(0).Build()
		Expect(k8sClient.Create(ctx, env)).To(Succeed())
		Eventually(func(g Gomega) {
			expectCondition(g, fetch(g, env), batonv1alpha1.StalledCondition, metav1.ConditionTrue, batonv1alpha1.WorkloadNotAuthorizedReason)
		}).Should(Succeed())

		p := builder.Promotion(ns, "refused").Environment("production").Image(imageV2).RequestedBy("alice").Build()
		Expect(k8sClient.Create(ctx, admitted(p))).To(Succeed())
		expectPhase(ctx, p, batonv1alpha1.PromotionFailed)
		Expect(readyReason(p)).To(Equal(batonv1alpha1.WorkloadNotAuthorizedReason))
		Expect(imageOf(ctx, dep)).To(Equal(imageV1), "a refused Promotion changes nothing")

		By("annotating the workload, as the message says")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(dep), dep)).To(Succeed())
		base := dep.DeepCopy()
		dep.Annotations = map[string]string{batonv1alpha1.AuthorizedEnvironmentAnnotation: ns + "/production"}
		Expect(k8sClient.Patch(ctx, dep, client.MergeFrom(base))).To(Succeed())
		// The API server counts an annotation change of a Deployment as a new
		// generation; play the Deployment controller observing it.
		Expect(testenv.RolloutComplete(ctx, k8sClient, dep)).To(Succeed())

		Eventually(func(g Gomega) {
			got := fetch(g, env)
			g.Expect(got.Status.ActivePromotion).To(BeNil())
			expectCondition(g, got, batonv1alpha1.ReadyCondition, metav1.ConditionTrue, batonv1alpha1.HealthyReason)
			g.Expect(got.Status.Current.Image).To(Equal(imageV1))
			g.Expect(revisionsOf(got)).To(Equal([]string{"1 " + imageV2 + " Failed", "2 " + imageV1 + " Adopted"}))
			g.Expect(got.Status.Current.Revision).To(Equal(int64(2)))
			g.Expect(got.Status.Conditions).NotTo(ContainElement(HaveField("Type", batonv1alpha1.StalledCondition)))
		}).Should(Succeed())
	})
})
