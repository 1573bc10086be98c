package controllers

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/fluxcd/pkg/gittestserver"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/source"
)

// sourceCondition is the Source condition of staging, fresh from the server.
func (s *stage) sourceCondition(ctx context.Context, g Gomega) *metav1.Condition {
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.staging), s.staging)).To(Succeed())
	return apimeta.FindStatusCondition(s.staging.Status.Conditions, batonv1alpha1.SourceCondition)
}

// seen waits until status.source records sha as the last head.
func (s *stage) seen(ctx context.Context, sha string) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.staging), s.staging)).To(Succeed())
		g.Expect(s.staging.Status.Source).NotTo(BeNil())
		g.Expect(s.staging.Status.Source.Commit).To(Equal(sha))
	}).Should(Succeed())
}

var _ = Describe("Merge to main deploys (spec.source)", Ordered, func() {
	var (
		ctx  = context.Background()
		srv  *gittestserver.GitServer
		repo *appRepo
		s    *stage
		c0   string
	)
	BeforeAll(func() { srv = gitServer() })

	// Every spec starts from staging following a repository whose first
	// head is deployed: a newly followed branch deploys its head.
	BeforeEach(func() {
		DeferCleanup(startPromotionManager(nil))
		repo = newAppRepo(srv)
		c0 = repo.head()
		s = newStage(ctx, "registry.example.com/web:1", func(prod *batonv1alpha1.Environment) { prod.Spec.AutoPromote = true })
		s.follow(ctx, repo, time.Hour)
		s.deploysSource(ctx, c0)
		s.seen(ctx, c0)
	})

	It("creates one staging Promotion per merge, which deploys and flows on to autoPromote", func() {
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.staging), s.staging)).To(Succeed())
		base := s.staging.DeepCopy()
		s.staging.Spec.Source.Git.Interval = &metav1.Duration{Duration: time.Second}
		Expect(k8sClient.Patch(ctx, s.staging, client.MergeFrom(base))).To(Succeed())

		c1 := repo.merge("Add the checkout page")
		p := s.deploysSource(ctx, c1)
		Expect(p.Spec.Image).To(Equal(webImage(c1)))
		Expect(p.Spec.RequestedBy.Username).To(Equal(ControllerUser))
		Expect(p.Annotations).To(HaveKeyWithValue(batonv1alpha1.SourceCommitAnnotation, c1))
		Expect(p.Annotations).To(HaveKeyWithValue(batonv1alpha1.SourceSubjectAnnotation, "Add the checkout page"))
		Expect(p.Annotations).To(HaveKeyWithValue(batonv1alpha1.SourceAuthorAnnotation, "Dev Eloper <dev@example.com>"))
		Expect(p.Spec.Reason).To(ContainSubstring(c1[:12]))
		Expect(p.Spec.Reason).NotTo(ContainSubstring("skipped"))
		Expect(imageOf(ctx, s.stagingDep)).To(Equal(webImage(c1)))

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.staging), s.staging)).To(Succeed())
			g.Expect(s.staging.Status.Source).NotTo(BeNil())
			g.Expect(s.staging.Status.Source.Commit).To(Equal(c1))
			g.Expect(s.staging.Status.Source.SeenAt).NotTo(BeNil())
			g.Expect(s.staging.Status.Source.Promotion).To(Equal(p.Name))
		}).Should(Succeed())

		// The same merge flows on: production's autoPromote picks up the
		// image once staging verified it.
		Eventually(func(g Gomega) {
			var list batonv1alpha1.PromotionList
			g.Expect(k8sClient.List(ctx, &list, client.InNamespace(s.ns))).To(Succeed())
			var images []string
			for _, q := range list.Items {
				if q.Spec.Environment == "production" {
					images = append(images, q.Spec.Image)
				}
			}
			g.Expect(images).To(ContainElement(webImage(c1)))
		}).Should(Succeed())

		// Polling every second never creates a second Promotion. A poll that
		// finds the same head writes nothing to wait for; a requested read
		// runs the same code and records that it did.
		s.handled(ctx, s.requestRead(ctx))
		Consistently(func() []string { return sourcePromotions(ctx, s.ns) }, "3s", "200ms").Should(ConsistOf(c0, c1))
	})

	It("deploys only the newest head of a burst, and lists the commits it skipped", func() {
		c1 := repo.merge("First fix")
		c2 := repo.merge("Second fix")
		c3 := repo.merge("Third fix")
		s.seen(ctx, c0)
		read := s.requestRead(ctx)
		p := s.deploysSource(ctx, c3)
		Expect(p.Spec.Reason).To(ContainSubstring("skipped 2 earlier commit(s)"))
		Expect(p.Spec.Reason).To(ContainSubstring(c2[:12] + ` "Second fix"`))
		Expect(p.Spec.Reason).To(ContainSubstring(c1[:12] + ` "First fix"`))
		s.handled(ctx, read)
		Consistently(func() []string { return sourcePromotions(ctx, s.ns) }, "2s", "200ms").Should(ConsistOf(c0, c3))
	})

	It("reads the head at once on a signed webhook, while polling is set to 1h", func() {
		hooks := receiver()
		c1 := repo.merge("Ship it")
		code, answer := postHook(hooks.URL+"/hooks/"+s.ns+"/staging", pushPayload("refs/heads/main", c1), hookSecret)
		Expect(code).To(Equal(http.StatusAccepted), answer)
		Expect(answer).To(HavePrefix("accepted:"))
		s.deploysSource(ctx, c1)
	})

	It("refuses a bad signature with 401 and triggers nothing", func() {
		hooks := receiver()
		c1 := repo.merge("Unsigned change")
		before := s.readTriggers(ctx)
		code, answer := postHook(hooks.URL+"/hooks/"+s.ns+"/staging", pushPayload("refs/heads/main", c1), "not-the-secret")
		Expect(code).To(Equal(http.StatusUnauthorized))
		Expect(answer).To(Equal(source.Refused))
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.staging), s.staging)).To(Succeed())
		Expect(s.staging.Annotations).NotTo(HaveKey(batonv1alpha1.SourceRequestedAtAnnotation))
		Expect(s.readTriggers(ctx)).To(Equal(before), "the receiver asked for a read")
		Consistently(func() []string { return sourcePromotions(ctx, s.ns) }, "3s", "200ms").Should(ConsistOf(c0))
	})

	It("ignores a valid hook for another branch", func() {
		hooks := receiver()
		c1 := repo.merge("Pushed to main, announced as a feature branch")
		before := s.readTriggers(ctx)
		code, answer := postHook(hooks.URL+"/hooks/"+s.ns+"/staging", pushPayload("refs/heads/feature", c1), hookSecret)
		Expect(code).To(Equal(http.StatusAccepted))
		Expect(answer).To(Equal("ignored: push to refs/heads/feature: this Environment follows branch main"))
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.staging), s.staging)).To(Succeed())
		Expect(s.staging.Annotations).NotTo(HaveKey(batonv1alpha1.SourceRequestedAtAnnotation))
		Expect(s.readTriggers(ctx)).To(Equal(before), "the receiver asked for a read")
		Consistently(func() []string { return sourcePromotions(ctx, s.ns) }, "3s", "200ms").Should(ConsistOf(c0))
	})

	It("creates one Promotion when the same delivery is replayed 20 times", func() {
		hooks := receiver()
		c1 := repo.merge("Replayed")
		body := pushPayload("refs/heads/main", c1)
		codes := map[int]int{}
		for range 20 {
			code, _ := postHook(hooks.URL+"/hooks/"+s.ns+"/staging", body, hookSecret)
			codes[code]++
		}
		Expect(codes[http.StatusAccepted]).To(BeNumerically(">=", 1))
		Expect(codes[http.StatusAccepted]+codes[http.StatusTooManyRequests]).To(Equal(20), "answers: %v", codes)
		s.srcPromotion(ctx, c1)
		s.handled(ctx, s.lastRequest(ctx))
		Consistently(func() []string { return sourcePromotions(ctx, s.ns) }, "3s", "200ms").Should(ConsistOf(c0, c1))
	})

	It("never trusts the SHA in the payload: it promotes the head it reads", func() {
		hooks := receiver()
		c1 := repo.merge("Real head")
		forged := strings.Repeat("ab", 20)
		code, answer := postHook(hooks.URL+"/hooks/"+s.ns+"/staging", pushPayload("refs/heads/main", forged), hookSecret)
		Expect(code).To(Equal(http.StatusAccepted), answer)
		p := s.deploysSource(ctx, c1)
		Expect(p.Annotations[batonv1alpha1.SourceCommitAnnotation]).To(Equal(c1))
		Expect(sourcePromotions(ctx, s.ns)).To(ConsistOf(c0, c1))
		Expect(sourcePromotions(ctx, s.ns)).NotTo(ContainElement(forged))
	})

	It("reports a force-push backwards and deploys nothing", func() {
		c1 := repo.merge("Will be force-pushed back to")
		c2 := repo.merge("Newest")
		s.requestRead(ctx)
		s.deploysSource(ctx, c2)
		s.seen(ctx, c2)

		repo.forcePush(c1)
		s.requestRead(ctx)
		Eventually(func(g Gomega) {
			c := s.sourceCondition(ctx, g)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal(batonv1alpha1.ForcePushedReason))
			g.Expect(c.Message).To(ContainSubstring("moved back"))
			g.Expect(c.Message).To(ContainSubstring("Last head: " + c2))
			g.Expect(c.Message).To(ContainSubstring("new head: " + c1))
		}).Should(Succeed())
		// The condition was Tracking before: the change is announced too.
		Eventually(func(g Gomega) {
			expectEvent(g, s.staging, corev1.EventTypeWarning, batonv1alpha1.ForcePushedReason)
		}).Should(Succeed())
		Consistently(func() []string { return sourcePromotions(ctx, s.ns) }, "3s", "200ms").Should(ConsistOf(c0, c2))
		Expect(imageOf(ctx, s.stagingDep)).To(Equal(webImage(c2)))

		// The next commit on top of the rewound branch deploys as usual.
		c3 := repo.merge("On top of the rewind")
		s.requestRead(ctx)
		s.deploysSource(ctx, c3)
		Eventually(func(g Gomega) {
			c := s.sourceCondition(ctx, g)
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(c.Reason).To(Equal(batonv1alpha1.TrackingReason))
		}).Should(Succeed())
	})
})

var _ = Describe("spec.source bad input", Ordered, func() {
	var (
		ctx  = context.Background()
		srv  *gittestserver.GitServer
		repo *appRepo
	)
	BeforeAll(func() {
		srv = gitServer()
		repo = newAppRepo(srv)
		DeferCleanup(startPromotionManager(nil))
	})

	DescribeTable("stops with a reason and a message a person can act on, and promotes nothing",
		func(tune func(ns string, src *batonv1alpha1.Source), reason, message string) {
			s := newStage(ctx, "registry.example.com/web:1", nil)
			sourceSecrets(ctx, s.ns)
			src := &batonv1alpha1.Source{
				Git: batonv1alpha1.GitSource{
					URL: repo.url, SecretRef: &batonv1alpha1.LocalObjectReference{Name: "app-git"},
					Interval: &metav1.Duration{Duration: time.Hour},
				},
				Image: imageTemplate,
			}
			tune(s.ns, src)
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.staging), s.staging)).To(Succeed())
			base := s.staging.DeepCopy()
			s.staging.Spec.Source = src
			Expect(k8sClient.Patch(ctx, s.staging, client.MergeFrom(base))).To(Succeed())
			Eventually(func(g Gomega) {
				c := s.sourceCondition(ctx, g)
				g.Expect(c).NotTo(BeNil())
				g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
				g.Expect(c.Reason).To(Equal(reason))
				g.Expect(c.Message).To(ContainSubstring(message))
			}).Should(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.staging), s.staging)).To(Succeed())
				stalled := apimeta.FindStatusCondition(s.staging.Status.Conditions, batonv1alpha1.StalledCondition)
				g.Expect(stalled).NotTo(BeNil(), "the Environment is not Stalled")
				g.Expect(stalled.Reason).To(Equal(reason))
			}).Should(Succeed())
			Expect(sourcePromotions(ctx, s.ns)).To(BeEmpty())
			expectNoSecret(ctx, s.ns, s.staging)
		},
		Entry("a template that does not parse", func(_ string, src *batonv1alpha1.Source) {
			src.Image = "registry.example.com/web:{{ .ShortSHA"
		}, batonv1alpha1.InvalidImageTemplateReason, `spec.source.image "registry.example.com/web:{{ .ShortSHA" does not parse`),
		Entry("a misspelt field", func(_ string, src *batonv1alpha1.Source) {
			src.Image = "registry.example.com/web:{{ .Sha }}"
		}, batonv1alpha1.InvalidImageTemplateReason, "can't evaluate field Sha"),
		Entry("a range", func(_ string, src *batonv1alpha1.Source) {
			src.Image = "registry.example.com/web:{{ range 1000000000 }}{{ end }}{{ .SHA }}"
		}, batonv1alpha1.InvalidImageTemplateReason, "range is not allowed"),
		Entry("a rendered image that is not a reference", func(_ string, src *batonv1alpha1.Source) {
			src.Image = "Registry.Example.com/WEB:{{ .ShortSHA }}"
		}, batonv1alpha1.InvalidImageTemplateReason, "which is not an image reference"),
		Entry("a missing credentials Secret", func(_ string, src *batonv1alpha1.Source) {
			src.Git.SecretRef.Name = "nope"
		}, batonv1alpha1.GitCredentialsInvalidReason, `spec.source.git.secretRef: Secret "nope" does not exist`),
		Entry("wrong credentials", func(ns string, src *batonv1alpha1.Source) {
			Expect(k8sClient.Create(ctx, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "wrong"},
				Type:       corev1.SecretTypeBasicAuth,
				StringData: map[string]string{"username": appGitUser, "password": "wrong-Pa55word-00aa11"},
			})).To(Succeed())
			src.Git.SecretRef.Name = "wrong"
		}, batonv1alpha1.AuthenticationFailedReason, "/wrong (spec.source.git.secretRef); check that they are current and may read the repository"),
		Entry("no credentials", func(_ string, src *batonv1alpha1.Source) {
			src.Git.SecretRef = nil
		}, batonv1alpha1.AuthenticationFailedReason, "refused anonymous access; set spec.source.git.secretRef"),
		Entry("a branch that does not exist", func(_ string, src *batonv1alpha1.Source) {
			src.Git.Branch = "trunk"
		}, batonv1alpha1.BranchNotFoundReason, `has no branch "trunk"`),
		Entry("a repository that does not exist", func(_ string, src *batonv1alpha1.Source) {
			src.Git.URL = srv.HTTPAddress() + "/missing.git"
		}, batonv1alpha1.RepositoryNotFoundReason, "does not exist, or the credentials cannot see it"),
	)

	It("refuses spec.source on an Environment with an upstream", func() {
		s := newStage(ctx, "registry.example.com/web:1", nil)
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.production), s.production)).To(Succeed())
		base := s.production.DeepCopy()
		s.production.Spec.Source = &batonv1alpha1.Source{Git: batonv1alpha1.GitSource{URL: repo.url}, Image: imageTemplate}
		err := k8sClient.Patch(ctx, s.production, client.MergeFrom(base))
		Expect(err).To(MatchError(ContainSubstring("source only on entry environments")))
	})
})

// expectNoSecret checks that no credential reached the Environment's status
// or the namespace's Events.
func expectNoSecret(ctx context.Context, ns string, env *batonv1alpha1.Environment) {
	GinkgoHelper()
	var core corev1.EventList
	Expect(k8sClient.List(ctx, &core, client.InNamespace(ns))).To(Succeed())
	var events eventsv1.EventList
	Expect(k8sClient.List(ctx, &events, client.InNamespace(ns))).To(Succeed())
	Expect(len(core.Items)+len(events.Items)).To(BeNumerically(">", 0), "the failure was announced as an Event")
	var texts []string
	for _, e := range core.Items {
		texts = append(texts, e.Message)
	}
	for _, e := range events.Items {
		texts = append(texts, e.Note)
	}
	for _, c := range env.Status.Conditions {
		texts = append(texts, c.Message)
	}
	for _, t := range texts {
		for _, secret := range []string{appGitPassword, hookSecret, "wrong-Pa55word-00aa11"} {
			Expect(t).NotTo(ContainSubstring(secret))
		}
	}
}
