package controllers

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testenv"
	"github.com/baton-dev/baton/internal/testing/builder"
)

// badInput sets up one bad request and returns the Promotion it creates.
type badInput func(ctx context.Context, s *stage) *batonv1alpha1.Promotion

var _ = Describe("The Promotion engine, given bad input", func() {
	var (
		ctx  context.Context
		stop func()
	)
	BeforeEach(func() {
		ctx = context.Background()
		stop = startPromotionManager(nil)
	})
	AfterEach(func() { stop() })

	DescribeTable("ends with a specific reason and leaves the workload untouched",
		func(setup badInput, phase batonv1alpha1.PromotionPhase, condition, reason string, mentions ...string) {
			s := newStage(ctx, "registry.example.com/web:0", nil)
			before := snapshot(ctx, s)
			p := setup(ctx, s)
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
				g.Expect(p.Status.Phase).To(Equal(phase))
				c := apimeta.FindStatusCondition(p.Status.Conditions, condition)
				g.Expect(c).NotTo(BeNil(), "no %s condition in %+v", condition, p.Status.Conditions)
				g.Expect(c.Reason).To(Equal(reason))
				g.Expect(c.ObservedGeneration).To(Equal(p.Generation), "the verdict is on this spec")
				for _, m := range mentions {
					g.Expect(c.Message).To(ContainSubstring(m))
				}
			}).Should(Succeed())
			// The engine is done with the Environment: it holds no lease for
			// this Promotion, and any revision it opened is closed. A delivery
			// happens only under the lease, so from here nothing may change.
			expectReleased(ctx, s, p)
			Consistently(func(g Gomega) {
				g.Expect(snapshot(ctx, s)).To(Equal(before), "a workload was changed")
			}, "1s", "200ms").Should(Succeed())
		},
		Entry("the Environment is missing", func(ctx context.Context, s *stage) *batonv1alpha1.Promotion {
			return s.promotion(ctx, "nowhere", "missing-env-", "registry.example.com/web:1", nil)
		}, batonv1alpha1.PromotionPending, batonv1alpha1.StalledCondition, batonv1alpha1.EnvironmentNotFoundReason, `Environment "nowhere" does not exist`),
		Entry("the Environment is deleted while the Promotion waits", func(ctx context.Context, s *stage) *batonv1alpha1.Promotion {
			s.setRequiredApprovals(ctx, 1)
			p := s.promotion(ctx, "production", "orphan-", "registry.example.com/web:1", nil)
			expectPhase(ctx, p, batonv1alpha1.PromotionWaitingForApproval)
			Expect(k8sClient.Delete(ctx, s.production)).To(Succeed())
			return p
		}, batonv1alpha1.PromotionWaitingForApproval, batonv1alpha1.StalledCondition, batonv1alpha1.EnvironmentNotFoundReason, `Environment "production" does not exist`),
		Entry("the upstream is missing", func(ctx context.Context, s *stage) *batonv1alpha1.Promotion {
			s.setUpstream(ctx, "qa")
			return s.promotion(ctx, "production", "no-upstream-", "", nil)
		}, batonv1alpha1.PromotionPending, batonv1alpha1.ReadyCondition, batonv1alpha1.UpstreamNotFoundReason, `upstream "qa", which does not exist`),
		Entry("the upstream has verified nothing yet", func(ctx context.Context, s *stage) *batonv1alpha1.Promotion {
			canary := builder.Deployment(s.ns, "web-canary").Replicas(2).Container("web", "registry.example.com/web:9").Build()
			Expect(k8sClient.Create(ctx, canary)).To(Succeed())
			Expect(testenv.RolloutProgressing(ctx, k8sClient, canary)).To(Succeed())
			Expect(k8sClient.Create(ctx, builder.Environment(s.ns, "canary").Deployment("web-canary", "web").Direct().Build())).To(Succeed())
			s.setUpstream(ctx, "canary")
			return s.promotion(ctx, "production", "nothing-verified-", "", nil)
		}, batonv1alpha1.PromotionPending, batonv1alpha1.ReadyCondition, batonv1alpha1.UpstreamNotVerifiedReason, `upstream Environment "canary" has verified no image`),
		Entry("the image is not verified upstream", func(ctx context.Context, s *stage) *batonv1alpha1.Promotion {
			return s.promotion(ctx, "production", "unverified-", "registry.example.com/web:7", nil)
		}, batonv1alpha1.PromotionPending, batonv1alpha1.ReadyCondition, batonv1alpha1.UpstreamNotVerifiedReason, "registry.example.com/web:7 is not verified", `"staging", which runs registry.example.com/web:1`),
		Entry("the image reference cannot be parsed", func(ctx context.Context, s *stage) *batonv1alpha1.Promotion {
			return s.promotion(ctx, "production", "unparsable-", "registry.example.com/Web:1", nil)
		}, batonv1alpha1.PromotionFailed, batonv1alpha1.StalledCondition, batonv1alpha1.InvalidImageReason, "spec.image", "registry.example.com/Web:1"),
		Entry("the workload is missing", func(ctx context.Context, s *stage) *batonv1alpha1.Promotion {
			s.setWorkload(ctx, "web-gone", "web")
			return s.promotion(ctx, "production", "no-workload-", "registry.example.com/web:1", nil)
		}, batonv1alpha1.PromotionFailed, batonv1alpha1.StalledCondition, batonv1alpha1.WorkloadNotFoundReason, "web-gone", "does not exist"),
		Entry("the container is missing", func(ctx context.Context, s *stage) *batonv1alpha1.Promotion {
			s.setWorkload(ctx, "web-production", "api")
			return s.promotion(ctx, "production", "no-container-", "registry.example.com/web:1", nil)
		}, batonv1alpha1.PromotionFailed, batonv1alpha1.StalledCondition, batonv1alpha1.ContainerNotFoundReason, `no container "api"`),
		Entry("the image field is managed by Flux", func(ctx context.Context, s *stage) *batonv1alpha1.Promotion {
			ac := appsv1ac.Deployment(s.prodDep.Name, s.ns).WithSpec(appsv1ac.DeploymentSpec().WithTemplate(
				corev1ac.PodTemplateSpec().WithSpec(corev1ac.PodSpec().WithContainers(
					corev1ac.Container().WithName("web").WithImage("registry.example.com/web:0")))))
			Expect(k8sClient.Apply(ctx, ac, client.FieldOwner("kustomize-controller"), client.ForceOwnership)).To(Succeed())
			return s.promotion(ctx, "production", "fight-", "registry.example.com/web:1", nil)
		}, batonv1alpha1.PromotionFailed, batonv1alpha1.StalledCondition, batonv1alpha1.ImageManagedElsewhereReason, "managed by kustomize-controller", "delivery.git"),
		Entry("the Promotion did not come through the admission webhook", func(ctx context.Context, s *stage) *batonv1alpha1.Promotion {
			p := builder.Promotion(s.ns, "bypassed").Environment("production").Image("registry.example.com/web:1").RequestedBy("bob").Build()
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			return p
		}, batonv1alpha1.PromotionPending, batonv1alpha1.StalledCondition, batonv1alpha1.NotAdmittedReason, "was not admitted by Baton's admission webhook", "never act on this Promotion"),
		Entry("the Promotion was changed after the webhook signed it", func(ctx context.Context, s *stage) *batonv1alpha1.Promotion {
			p := admitted(builder.Promotion(s.ns, "forged").Environment("production").Image("registry.example.com/web:1").RequestedBy("alice").Build())
			p.Spec.RequestedBy.Username = "bob"
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			return p
		}, batonv1alpha1.PromotionPending, batonv1alpha1.StalledCondition, batonv1alpha1.NotAdmittedReason, "does not match the Promotion"),
		Entry("a rollback to a revision that never ran", func(ctx context.Context, s *stage) *batonv1alpha1.Promotion {
			return s.promotion(ctx, "production", "undo-", "", &batonv1alpha1.RollbackSpec{ToRevision: 9})
		}, batonv1alpha1.PromotionFailed, batonv1alpha1.StalledCondition, batonv1alpha1.RevisionNotFoundReason, "revision 9", "revisions available: 1 (registry.example.com/web:0) current"),
	)

	It("refuses cancel after the target changed, and points to rollback", func() {
		s := newStage(ctx, "registry.example.com/web:0", nil)
		p := s.promotion(ctx, "production", "too-late-", "registry.example.com/web:1", nil)
		expectPhase(ctx, p, batonv1alpha1.PromotionRollingOut)
		cancelAsAlice(ctx, p)
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
			c := apimeta.FindStatusCondition(p.Status.Conditions, batonv1alpha1.ReconcilingCondition)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(batonv1alpha1.CanceledReason))
			g.Expect(c.Message).To(ContainSubstring("spec.cancel was refused"))
			g.Expect(c.Message).To(ContainSubstring("spec.rollback"))
		}).Should(Succeed())
		Expect(p.Status.Phase).To(Equal(batonv1alpha1.PromotionRollingOut))
		s.completeRollout(ctx, s.prodDep, "registry.example.com/web:1")
		expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
	})

	It("cancels a Promotion that has not started", func() {
		s := newStage(ctx, "registry.example.com/web:0", nil)
		s.setRequiredApprovals(ctx, 1)
		p := s.promotion(ctx, "production", "cancel-", "registry.example.com/web:1", nil)
		expectPhase(ctx, p, batonv1alpha1.PromotionWaitingForApproval)
		cancelAsAlice(ctx, p)
		expectPhase(ctx, p, batonv1alpha1.PromotionCanceled)
		Expect(imageOf(ctx, s.prodDep)).To(Equal("registry.example.com/web:0"))
	})
})

// snapshot is what a bad Promotion must leave alone: the spec of both
// environments' workloads.
func snapshot(ctx context.Context, s *stage) map[string]appsv1.DeploymentSpec {
	GinkgoHelper()
	out := map[string]appsv1.DeploymentSpec{}
	for _, d := range []*appsv1.Deployment{s.stagingDep, s.prodDep} {
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
		out[d.Name] = d.Spec
	}
	return out
}

// expectReleased waits until production, if it still exists, is not leased to
// p and has no open revision of p.
func expectReleased(ctx context.Context, s *stage, p *batonv1alpha1.Promotion) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		env := &batonv1alpha1.Environment{}
		err := k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), env)
		if apierrors.IsNotFound(err) {
			return
		}
		g.Expect(err).NotTo(HaveOccurred())
		if lease := env.Status.ActivePromotion; lease != nil {
			g.Expect(lease.UID).NotTo(Equal(string(p.UID)), "%s still holds the lease", p.Name)
		}
		for _, r := range env.Status.History {
			if r.Promotion != nil && r.Promotion.UID == string(p.UID) {
				g.Expect(r.Result).NotTo(BeEmpty(), "revision %d of %s is still open", r.Revision, p.Name)
			}
		}
	}).Should(Succeed())
}

func (s *stage) updateProduction(ctx context.Context, mutate func(*batonv1alpha1.Environment)) {
	GinkgoHelper()
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), s.production)).To(Succeed())
	base := s.production.DeepCopy()
	mutate(s.production)
	Expect(k8sClient.Patch(ctx, s.production, client.MergeFrom(base))).To(Succeed())
}

func (s *stage) setRequiredApprovals(ctx context.Context, n int32) {
	s.updateProduction(ctx, func(e *batonv1alpha1.Environment) { e.Spec.Approval.Required = n })
}

func (s *stage) setUpstream(ctx context.Context, upstream string) {
	s.updateProduction(ctx, func(e *batonv1alpha1.Environment) { e.Spec.Upstream = upstream })
}

func (s *stage) setWorkload(ctx context.Context, name, container string) {
	s.updateProduction(ctx, func(e *batonv1alpha1.Environment) {
		e.Spec.Workload.Name, e.Spec.Workload.Container = name, container
	})
}

// cancelAsAlice sets spec.cancel, stamped and signed as the admission webhook
// would.
func cancelAsAlice(ctx context.Context, p *batonv1alpha1.Promotion) {
	GinkgoHelper()
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
	base := p.DeepCopy()
	p.Spec.Cancel = true
	p.Spec.CanceledBy = &batonv1alpha1.UserInfo{Username: "alice"}
	Expect(k8sClient.Patch(ctx, admitted(p), client.MergeFrom(base))).To(Succeed())
}
