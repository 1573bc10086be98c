package controllers

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// pinnedDigest is the content of the image staging verifies in the pinDigest
// spec.
const pinnedDigest = "sha256:5f0e6d1c2b3a4958677665544332211000ffeeddccbbaa998877665544332211"

var _ = Describe("delivery.pinDigest", func() {
	var stop func()
	BeforeEach(func() { stop = startPromotionManager(nil) })
	AfterEach(func() { stop() })

	It("knows the revision of the repo@digest it wrote for the repo:tag@digest staging verified", func() {
		ctx := context.Background()
		tagged := "registry.example.com/web:2@" + pinnedDigest
		pinned := "registry.example.com/web@" + pinnedDigest
		s := newStage(ctx, "registry.example.com/web:1", func(prod *batonv1alpha1.Environment) {
			prod.Spec.Delivery.PinDigest = true
		})
		s.shipToStaging(ctx, tagged)

		p := s.promotion(ctx, "production", "pinned-", "", nil)
		s.completeRollout(ctx, s.prodDep, pinned)

		Eventually(func(g Gomega) {
			env := fetch(g, s.production)
			g.Expect(env.Status.Current).NotTo(BeNil())
			g.Expect(env.Status.Current.Image).To(Equal(pinned), "the workload runs the pinned reference")
			g.Expect(env.Status.Current.Revision).To(Equal(int64(2)), "the revision the Promotion recorded, history %v", revisionsOf(env))
			expectCondition(g, env, batonv1alpha1.ReadyCondition, metav1.ConditionTrue, batonv1alpha1.HealthyReason)
			g.Expect(env.Status.Conditions).NotTo(ContainElement(HaveField("Type", batonv1alpha1.DriftedCondition)), "Baton's own change is not drift")
		}).Should(Succeed())
		expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
		history := historyOf(ctx, s.production)
		Expect(history).To(HaveLen(2))
		Expect(history[1].Result).To(Equal(batonv1alpha1.RevisionSucceeded))
		Expect(history[1].Digest).To(Equal(pinnedDigest))
	})
})
