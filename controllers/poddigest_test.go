package controllers

import (
	"context"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testenv"
)

var _ = Describe("The digest the Pods run", func() {
	var ctx context.Context
	// verified is what staging's Pods ran; repushed is what the tag names
	// after CI pushed it again.
	verified := "sha256:" + strings.Repeat("1", 64)
	repushed := "sha256:" + strings.Repeat("2", 64)

	BeforeEach(func() {
		ctx = context.Background()
		stop := startPromotionManager(nil)
		DeferCleanup(func() { stop() })
	})

	// rollOut plays the rollout of image on d, with Pods reporting digests.
	rollOut := func(d *appsv1.Deployment, image string, digests ...string) {
		GinkgoHelper()
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
			g.Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal(image))
		}).Should(Succeed())
		Expect(testenv.PodsRun(ctx, k8sClient, d, digests...)).To(Succeed())
		Expect(testenv.RolloutComplete(ctx, k8sClient, d)).To(Succeed())
	}
	// verifiedIn ships web:2 to staging, whose Pods run verified.
	verifiedIn := func(s *stage) {
		GinkgoHelper()
		p := s.promotion(ctx, "staging", "to-staging-", web2, nil)
		rollOut(s.stagingDep, web2, verified)
		expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.staging), s.staging)).To(Succeed())
			g.Expect(s.staging.Status.Current.Digest).To(Equal(verified), "status.current.digest is what the kubelets report")
			g.Expect(s.staging.Status.VerifiedImages).To(ContainElement(And(
				HaveField("Image", web2), HaveField("Digest", verified))), "the verified image records the bytes its Pods ran")
		}).Should(Succeed())
	}

	It("promotes the bytes staging verified: production succeeds once its Pods report them", func() {
		s := newStage(ctx, web1, nil)
		verifiedIn(s)
		p := s.promotion(ctx, "production", "to-prod-", "", nil)
		rollOut(s.prodDep, web2, verified)
		expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
		Expect(p.Status.Image).To(Equal(web2))
		Expect(p.Status.Digest).To(Equal(verified), "the Promotion froze the digest staging verified")
	})

	It("pins production to the digest staging's Pods ran (pinDigest), though the tag names other bytes now", func() {
		s := newStage(ctx, web1, func(prod *batonv1alpha1.Environment) { prod.Spec.Delivery.PinDigest = true })
		verifiedIn(s)
		p := s.promotion(ctx, "production", "to-prod-", "", nil)
		pinned := "registry.example.com/web@" + verified
		By("no registry is asked: the digest is the one staging verified")
		rollOut(s.prodDep, pinned, verified)
		expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
		Expect(p.Status.Digest).To(Equal(verified))
	})

	It("fails DigestMismatch, naming both digests, when the tag was pushed again after staging verified it, and rolls back", func() {
		s := newStage(ctx, web1, func(prod *batonv1alpha1.Environment) { prod.Spec.Rollout.AutoRollback = true })
		verifiedIn(s)
		p := s.promotion(ctx, "production", "to-prod-", "", nil)
		By("the nodes pull the tag, which CI pushed again: other bytes")
		rollOut(s.prodDep, web2, repushed)
		expectPhase(ctx, p, batonv1alpha1.PromotionFailed)
		Expect(readyReason(p)).To(Equal(batonv1alpha1.DigestMismatchReason))
		Expect(readyMessage(p)).To(And(ContainSubstring(repushed), ContainSubstring(verified), ContainSubstring("delivery.pinDigest")))
		By("autoRollback brings back what ran before")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.prodDep), s.prodDep)).To(Succeed())
			g.Expect(s.prodDep.Spec.Template.Spec.Containers[0].Image).To(Equal(web1))
		}).Should(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), s.production)).To(Succeed())
		Expect(s.production.Status.VerifiedImages).NotTo(ContainElement(HaveField("Image", web2)), "production never verified the other bytes")
	})

	It("says when the Pods of one revision run different bytes, and does not verify them", func() {
		s := newStage(ctx, web1, nil)
		p := s.promotion(ctx, "staging", "to-staging-", web3, nil)
		rollOut(s.stagingDep, web3, verified, repushed)
		expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.staging), s.staging)).To(Succeed())
			drifted := condition(s.staging, batonv1alpha1.DriftedCondition)
			g.Expect(drifted).NotTo(BeNil())
			g.Expect(drifted.Reason).To(Equal(batonv1alpha1.DigestsDisagreeReason))
			g.Expect(drifted.Message).To(And(ContainSubstring(verified), ContainSubstring(repushed), ContainSubstring("Pod web-staging-")))
			v := condition(s.staging, batonv1alpha1.VerifiedCondition)
			g.Expect(v).NotTo(BeNil())
			g.Expect(v.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(v.Reason).To(Equal(batonv1alpha1.DigestsDisagreeReason))
		}).Should(Succeed())
		Expect(verifiedImages(s.staging)).NotTo(ContainElement(web3))
	})
})
