package controllers

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/fluxcd/pkg/gittestserver"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/commitstatus"
	"github.com/baton-dev/baton/internal/testenv"
	"github.com/baton-dev/baton/internal/testing/forgetest"
)

// forgeToken is distinctive, so that the secret scan cannot miss it.
const forgeToken = "forge-t0ken-5d2a9c81e7"

// reportTo makes staging report commit statuses to forge, with the token
// in Secret secret (created unless missing is set).
func (s *stage) reportTo(ctx context.Context, forge *forgetest.Server, secret string, missing bool) {
	GinkgoHelper()
	if !missing {
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: secret, Labels: map[string]string{batonv1alpha1.CredentialsLabel: "true"}},
			Type:       corev1.SecretTypeOpaque,
			StringData: map[string]string{commitstatus.TokenKey: forgeToken},
		})).To(Succeed())
	}
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.staging), s.staging)).To(Succeed())
	base := s.staging.DeepCopy()
	s.staging.Spec.Source.CommitStatus = &batonv1alpha1.CommitStatus{
		Provider: batonv1alpha1.CommitStatusProvider(forge.Forge), Address: forge.Address(),
		Repository: "acme/web", SecretRef: batonv1alpha1.LocalObjectReference{Name: secret},
	}
	Expect(k8sClient.Patch(ctx, s.staging, client.MergeFrom(base))).To(Succeed())
}

// statusesOn are the descriptions forge received for sha in context, in
// order, each prefixed with its state.
func statusesOn(forge *forgetest.Server, sha, context string) []string {
	var out []string
	for _, r := range forge.Received() {
		if r.SHA == sha && r.Context == context {
			out = append(out, r.State+" "+r.Description)
		}
	}
	return out
}

// startReporting runs a Promotion manager whose commit-status reporter
// calls the forge over rt (3 attempts, 20 ms apart, each within timeout),
// until the spec's cleanup. Its metrics and log are in the observed.
func startReporting(rt http.RoundTripper, timeout time.Duration, allowedHosts ...string) observed {
	GinkgoHelper()
	o := newObserved()
	reporter := commitstatus.New(k8sClient, k8sClient, 2, 100, o.logger.WithName("commitstatus"))
	reporter.HTTP.Transport = rt
	reporter.AllowedHosts = allowedHosts
	reporter.Attempts, reporter.Backoff, reporter.Timeout = 3, 20*time.Millisecond, timeout
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = reporter.Start(ctx) }()
	stop := startPromotionManager(nil, engineTuning{
		options: o.options,
		engine:  func(r *PromotionReconciler) { r.CommitStatuses = reporter },
	})
	DeferCleanup(func() { stop(); cancel() })
	return o
}

// approvedOnCommit promotes image to production, which needs one approval:
// the forge shows production waiting for it (shown reads production's
// statuses on the image's commit, oldest first), then, approved and rolled
// out, deployed and verified.
func (s *stage) approvedOnCommit(ctx context.Context, image string, shown func(Gomega) []string) {
	GinkgoHelper()
	prod := s.promotion(ctx, "production", "to-prod-", image, nil)
	expectPhase(ctx, prod, batonv1alpha1.PromotionWaitingForApproval)
	Eventually(func(g Gomega) []string { return shown(g) }).Should(ContainElement("pending production: waiting for 1 approval"))
	s.setRequiredApprovals(ctx, 0)
	s.completeRollout(ctx, s.prodDep, image)
	expectPhase(ctx, prod, batonv1alpha1.PromotionSucceeded)
	Eventually(func(g Gomega) {
		got := shown(g)
		g.Expect(got).NotTo(BeEmpty())
		g.Expect(got[0]).To(Equal("pending production: waiting for 1 approval"))
		g.Expect(got[len(got)-1]).To(Equal("success production: deployed and verified"))
	}).Should(Succeed())
}

// commitStatusCondition is staging's CommitStatusReported condition.
func (s *stage) commitStatusCondition(ctx context.Context, g Gomega) *metav1.Condition {
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.staging), s.staging)).To(Succeed())
	c := condition(s.staging, batonv1alpha1.CommitStatusReportedCondition)
	g.Expect(c).NotTo(BeNil())
	return c
}

var _ = Describe("Commit statuses on the source commit", Ordered, func() {
	var (
		ctx    = context.Background()
		srv    *gittestserver.GitServer
		scrape scraper
		logs   *logCapture
		forge  *forgetest.Server
	)
	BeforeAll(func() { srv = gitServer() })
	// start runs a manager whose reporter calls a forge of that kind.
	start := func(kind string, allowedHosts ...string) {
		forge = forgetest.Start(kind, forgeToken)
		DeferCleanup(forge.Close)
		o := startReporting(forge.Client().Transport, 2*time.Second, allowedHosts...)
		scrape, logs = o.scrape, o.logs
	}

	DescribeTable("reports staging's and production's states on the developer's commit, in order",
		func(kind string) {
			start(kind)
			failure := "failure"
			if kind == "gitlab" {
				failure = "failed"
			}
			repo := newAppRepo(srv)
			c0 := repo.head()
			s := newStage(ctx, web0, func(prod *batonv1alpha1.Environment) {
				prod.Spec.Approval.Required = 1
				prod.Spec.Rollout.AutoRollback = true
			})
			s.follow(ctx, repo, time.Hour)
			s.reportTo(ctx, forge, "forge-token", false)

			By("the merge deploys to staging")
			s.deploysSource(ctx, c0)
			Eventually(func(g Gomega) {
				got := statusesOn(forge, c0, "baton/staging")
				g.Expect(got).NotTo(BeEmpty())
				g.Expect(got[len(got)-1]).To(Equal("success staging: deployed and verified"))
			}).Should(Succeed())
			staging := statusesOn(forge, c0, "baton/staging")
			for _, st := range staging[:len(staging)-1] {
				Expect(st).To(MatchRegexp(`^(pending|running) staging: `), "before success, staging is only ever on its way")
			}

			By("production waits for an approval, then deploys")
			s.approvedOnCommit(ctx, webImage(c0), func(Gomega) []string { return statusesOn(forge, c0, "baton/production") })

			By("the next merge fails in production and is rolled back")
			c1 := repo.merge("Break the checkout page")
			s.requestRead(ctx)
			s.deploysSource(ctx, c1)
			broken := s.promotion(ctx, "production", "broken-", webImage(c1), nil)
			expectPhase(ctx, broken, batonv1alpha1.PromotionRollingOut)
			Expect(testenv.RolloutFailed(ctx, k8sClient, s.prodDep, `ReplicaSet "web-production-broken" has timed out progressing.`)).To(Succeed())
			expectPhase(ctx, broken, batonv1alpha1.PromotionFailed)
			undo := &batonv1alpha1.Promotion{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: broken.Name + "-rollback"}, undo)).To(Succeed())
			s.completeRollout(ctx, s.prodDep, webImage(c0))
			expectPhase(ctx, undo, batonv1alpha1.PromotionSucceeded)
			Eventually(func(g Gomega) {
				got := statusesOn(forge, c1, "baton/production")
				g.Expect(got).To(ContainElement(HavePrefix(failure + " production: failed")))
				g.Expect(got[len(got)-1]).To(Equal(failure + " production: rolled back"))
			}).Should(Succeed())
			got := statusesOn(forge, c1, "baton/production")
			failed := -1
			for i, st := range got {
				if strings.HasPrefix(st, failure+" production: failed") {
					failed = i
				}
			}
			Expect(got[failed+1:]).To(ContainElement(MatchRegexp(`^(pending|running) production: rolling back to `)), "the rollback shows on the commit it undoes: %v", got)
			Expect(statusesOn(forge, c1, "baton/staging")).To(ContainElement("success staging: deployed and verified"))

			for _, r := range forge.Received() {
				GinkgoWriter.Printf("commit-status %s %s %-16s %-8s %s\n", kind, r.SHA[:7], r.Context, r.State, r.Description)
			}
			for _, sha := range []string{c0, c1} {
				for _, context := range []string{"baton/staging", "baton/production"} {
					got := statusesOn(forge, sha, context)
					for i := 1; i < len(got); i++ {
						Expect(got[i]).NotTo(Equal(got[i-1]), "a phase change that shows nothing new costs no call: %v", got)
					}
				}
			}
			By("the condition and the metric say the statuses went through, and the token is nowhere")
			Eventually(func(g Gomega) {
				c := s.commitStatusCondition(ctx, g)
				g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
				g.Expect(c.Reason).To(Equal(batonv1alpha1.CommitStatusSentReason))
				g.Expect(c.Message).To(ContainSubstring("acme/web"))
				g.Expect(value(g, scrape.families(g), "baton_commit_statuses_total", map[string]string{"namespace": s.ns, "provider": kind, "result": "sent"})).
					To(BeNumerically(">=", float64(len(forge.Received()))))
			}).Should(Succeed())
			expectNoToken(ctx, s, logs.String())
		},
		Entry("GitHub", "github"),
		Entry("GitLab", "gitlab"),
		Entry("Gitea", "gitea"),
	)

	DescribeTable("goes on with the Promotion when the forge does not take the status, and says why on staging",
		func(kind string, breakForge func(*forgetest.Server), missingSecret bool, reason, says, result string, retried bool, allowedHosts ...string) {
			start(kind, allowedHosts...)
			breakForge(forge)
			repo := newAppRepo(srv)
			c0 := repo.head()
			s := newStage(ctx, web0, nil)
			s.follow(ctx, repo, time.Hour)
			s.reportTo(ctx, forge, "forge-token", missingSecret)

			s.deploysSource(ctx, c0)
			Eventually(func(g Gomega) {
				c := s.commitStatusCondition(ctx, g)
				g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
				g.Expect(c.Reason).To(Equal(reason))
				g.Expect(c.Message).To(ContainSubstring(says))
				fams := scrape.families(g)
				g.Expect(value(g, fams, "baton_commit_statuses_total", map[string]string{"namespace": s.ns, "provider": kind, "result": result})).To(BeNumerically(">=", 1))
				retries := value(g, fams, "baton_commit_status_retries_total", map[string]string{"namespace": s.ns, "provider": kind})
				if retried {
					g.Expect(retries).To(BeNumerically(">=", 2), "each status tried 3 times")
				} else {
					g.Expect(retries).To(BeZero(), "an answer that cannot change is not tried again")
				}
			}).Should(Succeed())
			Expect(forge.Received()).To(BeEmpty())
			if missingSecret || len(allowedHosts) > 0 {
				Expect(forge.Calls()).To(BeZero(), "refused before any connection")
			}
			Expect(imageOf(ctx, s.stagingDep)).To(Equal(webImage(c0)), "the deploy went on")
			expectNoToken(ctx, s, logs.String())
		},
		Entry("a forge that is down", "gitea", func(f *forgetest.Server) { f.SetDown(true) }, false,
			batonv1alpha1.CommitStatusFailedReason, "after 3 attempts", "unavailable", true),
		Entry("GitHub's rate limit (403, X-RateLimit-Remaining: 0)", "github", func(f *forgetest.Server) { f.SetRateLimited(true) }, false,
			batonv1alpha1.CommitStatusRateLimitedReason, "rate-limited the status baton/staging", "rate_limited", false),
		Entry("a token GitLab refuses", "gitlab", func(f *forgetest.Server) { f.Token = "another" }, false,
			batonv1alpha1.CommitStatusUnauthorizedReason, `refused the token in key "token" of Secret forge-token (401 Unauthorized)`, "unauthorized", false),
		Entry("a missing Secret", "github", func(*forgetest.Server) {}, true,
			batonv1alpha1.CommitStatusInvalidReason, "spec.source.commitStatus.secretRef: Secret forge-token not found", "invalid", false),
		// An Environment editor points the address at her own server to
		// collect the team's forge token: the allow-list of Git hosts holds.
		Entry("an address outside --allowed-git-hosts", "gitea", func(*forgetest.Server) {}, false,
			batonv1alpha1.CommitStatusInvalidReason, `spec.source.commitStatus.address names host "127.0.0.1", which is not in the manager's --allowed-git-hosts (git.example.com)`, "invalid", false, "git.example.com"),
	)
})

// expectNoToken: the forge token is in no Event, no status and no log line.
func expectNoToken(ctx context.Context, s *stage, log string) {
	GinkgoHelper()
	expectNoneOf(ctx, s, log, forgeToken)
}

// expectNoneOf: secret is in no Event, no status and no log line.
func expectNoneOf(ctx context.Context, s *stage, log, secret string) {
	GinkgoHelper()
	Expect(log).NotTo(ContainSubstring(secret))
	var events eventsv1.EventList
	Expect(k8sClient.List(ctx, &events, client.InNamespace(s.ns))).To(Succeed())
	var envs batonv1alpha1.EnvironmentList
	Expect(k8sClient.List(ctx, &envs, client.InNamespace(s.ns))).To(Succeed())
	var promos batonv1alpha1.PromotionList
	Expect(k8sClient.List(ctx, &promos, client.InNamespace(s.ns))).To(Succeed())
	for _, obj := range []any{events, envs, promos} {
		raw, err := json.Marshal(obj)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(raw)).NotTo(ContainSubstring(secret))
	}
}
