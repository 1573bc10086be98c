package controllers

import (
	"context"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/registry"
	"github.com/baton-dev/baton/internal/testenv"
	"github.com/baton-dev/baton/internal/testing/builder"
	"github.com/baton-dev/baton/internal/testing/registrytest"
)

// The registry's credentials: distinctive, so that a leak cannot be missed.
const (
	registryUser     = "ci-puller"
	registryPassword = "reg-Pa55word-7d1c0b9e"
	// notADockerConfig asks pinnedStage for a pull secret that does not parse.
	notADockerConfig = "not a docker config"
)

var _ = Describe("delivery.pinDigest with a real registry", func() {
	var (
		ctx  context.Context
		reg  *registrytest.Server
		stop func()
		logs *logCapture
	)
	BeforeEach(func() {
		ctx = context.Background()
		reg = registrytest.New(&authn.Basic{Username: registryUser, Password: registryPassword})
		DeferCleanup(reg.Close)
		o := newObserved()
		logs = o.logs
		stop = startPromotionManager(nil, engineTuning{options: o.options, engine: func(r *PromotionReconciler) {
			r.Registry = &registry.Resolver{Transport: reg.Client().Transport}
		}})
		DeferCleanup(func() { stop() })
	})

	// pinnedStage is staging and production (pinDigest), production's
	// workload pulling with the namespace's default ServiceAccount, which
	// names the pull secret for the registry (password, or none).
	pinnedStage := func(password string) *stage {
		GinkgoHelper()
		s := newStage(ctx, "registry.example.com/web:1", func(prod *batonv1alpha1.Environment) {
			prod.Spec.Delivery.PinDigest = true
		})
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "default"}}
		if password != "" {
			secret := registrytest.PullSecret(s.ns, "registry-pull", reg.Host(), registryUser, password)
			if password == notADockerConfig {
				// Valid JSON, which the API server accepts, but not a
				// docker config: the password where an entry belongs.
				secret.Type = corev1.SecretTypeDockercfg
				secret.Data = map[string][]byte{corev1.DockerConfigKey: []byte(`{"` + reg.Host() + `": "` + registryPassword + `"}`)}
			}
			Expect(k8sClient.Create(ctx, &secret)).To(Succeed())
			sa.ImagePullSecrets = []corev1.LocalObjectReference{{Name: secret.Name}}
		}
		Expect(k8sClient.Create(ctx, sa)).To(Succeed())
		return s
	}
	push := func(repoTag string) string {
		GinkgoHelper()
		d, err := reg.Push(repoTag)
		Expect(err).NotTo(HaveOccurred())
		return d
	}

	It("freezes the registry's digest when it resolves: a tag pushed again afterwards does not reach production", func() {
		s := pinnedStage(registryPassword)
		tag := reg.Host() + "/web:2"
		resolved := push("web:2")
		s.shipToStaging(ctx, tag) // staging verifies the tag; its Pods' digest is not known here
		s.setRequiredApprovals(ctx, 1)

		p := s.promotion(ctx, "production", "pinned-", "", nil)
		expectPhase(ctx, p, batonv1alpha1.PromotionWaitingForApproval)
		Expect(p.Status.Image).To(Equal(tag))
		Expect(p.Status.Digest).To(Equal(resolved), "the registry's digest at resolve time")

		By("the tag is pushed again while the Promotion waits for its approval")
		repushed := push("web:2")
		Expect(repushed).NotTo(Equal(resolved))
		s.setRequiredApprovals(ctx, 0)

		pinned := reg.Host() + "/web@" + resolved
		s.completeRollout(ctx, s.prodDep, pinned)
		expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
		Expect(p.Status.Digest).To(Equal(resolved))
		history := historyOf(ctx, s.production)
		Expect(history[len(history)-1].Digest).To(Equal(resolved))
		Eventually(func(g Gomega) {
			env := fetch(g, s.production)
			g.Expect(env.Status.Current).NotTo(BeNil())
			g.Expect(env.Status.Current.Image).To(Equal(pinned), "production runs the bytes resolved, never the re-pushed tag")
		}).Should(Succeed())
		expectNoneOf(ctx, s, logs.String(), registryPassword)
	})

	It("says why it has no digest, and changes nothing", func() {
		down := registrytest.New(nil)
		down.Close()
		tests := []struct {
			name     string
			password string // of the pull secret; "" means none
			ref      func() string
			answer   func(http.ResponseWriter, *http.Request)
			reason   string
			says     string
		}{
			{name: "no pull secret for a private registry", ref: func() string { push("web:3"); return reg.Host() + "/web:3" },
				reason: batonv1alpha1.RegistryUnauthorizedReason, says: "imagePullSecrets"},
			{name: "a pull secret with a wrong password", password: "not-" + registryPassword, ref: func() string { push("web:3"); return reg.Host() + "/web:3" },
				reason: batonv1alpha1.RegistryUnauthorizedReason, says: "refused the credentials"},
			{name: "a pull secret that is not a docker config", password: notADockerConfig, ref: func() string { push("web:3"); return reg.Host() + "/web:3" },
				reason: batonv1alpha1.RegistryUnauthorizedReason, says: "is not a valid kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg Secret"},
			{name: "a tag that was never pushed", password: registryPassword, ref: func() string { return reg.Host() + "/web:never" },
				reason: batonv1alpha1.ImageNotFoundReason, says: "push the image"},
			{name: "a registry that is down", password: registryPassword, ref: func() string { return down.Host() + "/web:3" },
				reason: batonv1alpha1.RegistryUnreachableReason, says: "does not fall back to the tag"},
			{name: "a registry that asks to slow down", password: registryPassword, ref: func() string { return reg.Host() + "/web:3" },
				answer: func(w http.ResponseWriter, _ *http.Request) {
					http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`, http.StatusTooManyRequests)
				},
				reason: batonv1alpha1.RegistryRateLimitedReason, says: "slow down"},
		}
		for _, tc := range tests {
			By(tc.name)
			s := pinnedStage(tc.password)
			ref := tc.ref()
			s.shipToStaging(ctx, ref)
			before := &appsv1.Deployment{}
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.prodDep), before)).To(Succeed())
			if tc.answer != nil {
				reg.Answer.Store(&tc.answer)
			}
			p := s.promotion(ctx, "production", "pinned-", "", nil)
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
				ready := apimeta.FindStatusCondition(p.Status.Conditions, batonv1alpha1.ReadyCondition)
				g.Expect(ready).NotTo(BeNil())
				g.Expect(ready.Reason).To(Equal(tc.reason), "%+v", ready)
				g.Expect(ready.Message).To(And(ContainSubstring(ref), ContainSubstring(tc.says)))
			}).Should(Succeed())
			reg.Answer.Store(nil)
			Expect(p.Status.Phase).To(Equal(batonv1alpha1.PromotionPending))
			Expect(p.Status.Image).To(BeEmpty(), "nothing is frozen without a digest")
			Expect(p.Status.Digest).To(BeEmpty())
			after := &appsv1.Deployment{}
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.prodDep), after)).To(Succeed())
			Expect(after.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example.com/web:1"))
			Expect(after.Generation).To(Equal(before.Generation), "the workload was not touched")
			env := fetch(Default, s.production)
			Expect(env.Status.ActivePromotion).To(BeNil(), "no lease was taken")
			expectNoneOf(ctx, s, logs.String(), registryPassword)
		}
	})
})

var _ = Describe("spec.source.waitForImage with a real registry", func() {
	var (
		ctx context.Context
		reg *registrytest.Server
	)
	BeforeEach(func() {
		ctx = context.Background()
		reg = registrytest.New(nil)
		DeferCleanup(reg.Close)
		stop := startPromotionManager(nil, engineTuning{engine: func(r *PromotionReconciler) {
			r.Registry = &registry.Resolver{Transport: reg.Client().Transport}
		}})
		DeferCleanup(func() { stop() })
	})

	// merged is the Promotion spec.source creates for the commit sha into
	// staging, which waits for its image for timeout.
	merged := func(s *stage, sha string, timeout time.Duration) (*batonv1alpha1.Promotion, string) {
		GinkgoHelper()
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.staging), s.staging)).To(Succeed())
		base := s.staging.DeepCopy()
		s.staging.Spec.Source = &batonv1alpha1.Source{
			Git:          batonv1alpha1.GitSource{URL: "https://git.invalid/acme/web.git", Branch: "main"},
			Image:        reg.Host() + "/web:{{ .ShortSHA }}",
			WaitForImage: &batonv1alpha1.WaitForImage{Timeout: &metav1.Duration{Duration: timeout}},
		}
		Expect(k8sClient.Patch(ctx, s.staging, client.MergeFrom(base))).To(Succeed())
		img := reg.Host() + "/web:" + sha[:7]
		p := builder.Promotion(s.ns, "staging-src-"+sha[:12]).Environment("staging").Image(img).RequestedBy(ControllerUser).Build()
		p.Annotations = map[string]string{batonv1alpha1.SourceCommitAnnotation: sha}
		Expect(k8sClient.Create(ctx, admitted(p))).To(Succeed())
		return p, img
	}
	waitingFor := func(p *batonv1alpha1.Promotion, img string) {
		GinkgoHelper()
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
			ready := apimeta.FindStatusCondition(p.Status.Conditions, batonv1alpha1.ReadyCondition)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Reason).To(Equal(batonv1alpha1.ImageNotFoundReason), "%+v", ready)
			g.Expect(ready.Message).To(And(ContainSubstring("waiting for image "+img), ContainSubstring("waitForImage")))
		}).Should(Succeed())
		Expect(p.Status.Phase).To(Equal(batonv1alpha1.PromotionPending))
	}

	It("holds a merge's Promotion until CI pushes its image, then deploys those bytes", func() {
		s := newStage(ctx, "registry.example.com/web:1", nil)
		p, img := merged(s, "abc1234def5678abc1234def5678abc1234def56", time.Hour)
		waitingFor(p, img)
		By("each poll asks the registry again and writes nothing: the Promotion does not change from one poll to the next")
		version, asked := p.ResourceVersion, reg.Requests.Load()
		Eventually(reg.Requests.Load).WithTimeout(30*time.Second).Should(BeNumerically(">=", asked+4), "two more polls (a ping and a HEAD each)")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)).To(Succeed())
		Expect(p.ResourceVersion).To(Equal(version), "a status written at each poll would bring the next poll at once")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.stagingDep), s.stagingDep)).To(Succeed())
		Expect(s.stagingDep.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example.com/web:1"), "nothing deployed before the image exists")

		By("CI pushes the image")
		pushed, err := reg.Push("web:abc1234")
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.stagingDep), s.stagingDep)).To(Succeed())
			g.Expect(s.stagingDep.Spec.Template.Spec.Containers[0].Image).To(Equal(img))
		}).Should(Succeed())
		// The tag is delivered (no pinDigest): the Promotion succeeds once
		// the Pods report the bytes it froze.
		Expect(testenv.PodsRun(ctx, k8sClient, s.stagingDep, pushed)).To(Succeed())
		Expect(testenv.RolloutComplete(ctx, k8sClient, s.stagingDep)).To(Succeed())
		expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
		Expect(p.Status.Digest).To(Equal(pushed), "the digest of what was pushed is frozen")
	})

	It("fails the Promotion when the image does not appear within the timeout, and deploys nothing", func() {
		s := newStage(ctx, "registry.example.com/web:1", nil)
		p, img := merged(s, "0123456789abcdef0123456789abcdef01234567", time.Hour)
		waitingFor(p, img)
		fakeClock.Step(2 * time.Hour) // the engine's clock: the hour is over
		expectPhase(ctx, p, batonv1alpha1.PromotionFailed)
		Expect(readyReason(p)).To(Equal(batonv1alpha1.ImageNotFoundReason))
		Expect(apimeta.FindStatusCondition(p.Status.Conditions, batonv1alpha1.ReadyCondition).Message).To(
			And(ContainSubstring(img), ContainSubstring("within spec.source.waitForImage.timeout (1h0m0s)")))
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.stagingDep), s.stagingDep)).To(Succeed())
		Expect(s.stagingDep.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example.com/web:1"))
	})
})
