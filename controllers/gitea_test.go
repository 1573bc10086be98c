package controllers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-git/v5"
	gittransport "github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/commitstatus"
	batongit "github.com/baton-dev/baton/internal/git"
	"github.com/baton-dev/baton/internal/source"
	"github.com/baton-dev/baton/internal/testing/giteatest"
)

// A real Gitea, built from the module proxy (make gitea), holds the
// application repository: the developer pushes to it over HTTPS, its own
// push webhook makes staging deploy, and Baton reports each Environment's
// state on the developer's commit through Gitea's API with a token of a
// user who may only write to that repository.
var _ = Describe("Commit statuses and push webhooks on a real Gitea", Ordered, func() {
	var (
		ctx    = context.Background()
		forge  *giteatest.Gitea
		dev    *appRepo
		token  string
		hooks  *httptest.Server
		scrape scraper
		logs   *logCapture
	)
	const repo = "acme/web"

	BeforeAll(func() {
		var err error
		forge, err = giteatest.Start(GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(forge.Stop)

		// The manager trusts Gitea's CA as it would a CA bundle mounted
		// into its Pod: every Git transport of the process, through
		// Baton's own client.
		gittransport.InstallProtocol("https", githttp.NewClient(batongit.NewHTTPClient(forge.Transport())))
		DeferCleanup(func() {
			gittransport.InstallProtocol("https", githttp.NewClient(batongit.NewHTTPClient(http.DefaultTransport)))
		})

		By("an organization, its repository, the developer and Baton's own user, who may write only there")
		Expect(forge.AsAdmin(http.MethodPost, "/orgs", map[string]any{"username": "acme", "visibility": "private"}, nil)).To(Succeed())
		Expect(forge.AsAdmin(http.MethodPost, "/orgs/acme/repos", map[string]any{
			"name": "web", "private": true, "auto_init": true, "default_branch": "main", "readme": "Default",
		}, nil)).To(Succeed())
		devPassword, err := forge.CreateUser("dev")
		Expect(err).NotTo(HaveOccurred())
		batonPassword, err := forge.CreateUser("baton")
		Expect(err).NotTo(HaveOccurred())
		for _, u := range []string{"dev", "baton"} {
			Expect(forge.AsAdmin(http.MethodPut, "/repos/"+repo+"/collaborators/"+u, map[string]any{"permission": "write"}, nil)).To(Succeed())
		}
		token, err = forge.Token("baton", batonPassword, "baton-status", "write:repository")
		Expect(err).NotTo(HaveOccurred())
		Expect(token).NotTo(BeEmpty())

		By("the developer's clone, over HTTPS")
		url := forge.URL + "/" + repo + ".git"
		auth := &githttp.BasicAuth{Username: "dev", Password: devPassword}
		local, err := git.Clone(memory.NewStorage(), memfs.New(), &git.CloneOptions{URL: url, Auth: auth, ReferenceName: "refs/heads/main"})
		Expect(err).NotTo(HaveOccurred())
		dev = &appRepo{url: url, local: local, auth: auth}

		By("Baton's push-hook receiver, on the loopback (Gitea's ALLOWED_HOST_LIST)")
		hooks = httptest.NewServer(&source.Receiver{Reader: k8sClient, Client: k8sClient, Log: GinkgoLogr})
		DeferCleanup(hooks.Close)

		o := startReporting(forge.Transport(), 5*time.Second)
		scrape, logs = o.scrape, o.logs
	})

	// followGitea points staging at the Gitea repository, read as Baton's
	// user with its token, with the hook secret, polling only hourly (so
	// that a deploy within the spec comes from the hook), and reporting
	// statuses with the Secret holding statusToken.
	followGitea := func(s *stage, statusToken string) {
		GinkgoHelper()
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "gitea-read"},
			Type:       corev1.SecretTypeBasicAuth,
			StringData: map[string]string{batongit.UsernameKey: "baton", batongit.PasswordKey: token},
		})).To(Succeed())
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "gitea-status", Labels: map[string]string{batonv1alpha1.CredentialsLabel: "true"}},
			StringData: map[string]string{commitstatus.TokenKey: statusToken},
		})).To(Succeed())
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: "app-hook"},
			StringData: map[string]string{source.WebhookTokenKey: hookSecret},
		})).To(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.staging), s.staging)).To(Succeed())
		base := s.staging.DeepCopy()
		s.staging.Spec.Source = &batonv1alpha1.Source{
			Git: batonv1alpha1.GitSource{
				URL:              dev.url,
				SecretRef:        &batonv1alpha1.LocalObjectReference{Name: "gitea-read"},
				Interval:         &metav1.Duration{Duration: time.Hour},
				WebhookSecretRef: &batonv1alpha1.LocalObjectReference{Name: "app-hook"},
			},
			Image: imageTemplate,
			CommitStatus: &batonv1alpha1.CommitStatus{
				Provider: batonv1alpha1.CommitStatusGitea, Address: forge.URL,
				SecretRef: batonv1alpha1.LocalObjectReference{Name: "gitea-status"},
			},
		}
		Expect(k8sClient.Patch(ctx, s.staging, client.MergeFrom(base))).To(Succeed())
	}

	// statuses are Gitea's commit statuses of sha in context, oldest
	// first, each prefixed with its state.
	statuses := func(g Gomega, sha, context string) []string {
		all, err := forge.Statuses(repo, sha)
		g.Expect(err).NotTo(HaveOccurred())
		var out []string
		for _, st := range all {
			if st.Context == context {
				g.Expect(st.Creator.Login).To(Equal("baton"), "set with Baton's token")
				out = append(out, st.State+" "+st.Description)
			}
		}
		return out
	}

	It("deploys the developer's push to staging through Gitea's own webhook, and shows staging's and production's states on the commit", func() {
		s := newStage(ctx, web0, func(prod *batonv1alpha1.Environment) { prod.Spec.Approval.Required = 1 })
		followGitea(s, token)
		c0 := dev.head()

		By("staging deploys the branch's head when it starts to follow it")
		s.deploysSource(ctx, c0)
		Eventually(func(g Gomega) {
			got := statuses(g, c0, "baton/staging")
			g.Expect(got).NotTo(BeEmpty())
			g.Expect(got[len(got)-1]).To(Equal("success staging: deployed and verified"), "%q", got)
		}).Should(Succeed())

		By("Gitea's push webhook, signed with the secret, makes staging deploy the next merge")
		Expect(forge.AsAdmin(http.MethodPost, "/repos/"+repo+"/hooks", map[string]any{
			"type": "gitea", "active": true, "events": []string{"push"}, "branch_filter": "main",
			"config": map[string]string{"url": hooks.URL + "/hooks/" + s.ns + "/staging", "content_type": "json", "secret": hookSecret},
		}, nil)).To(Succeed())
		c1 := dev.merge("Add the search page")
		s.deploysSource(ctx, c1)
		Expect(s.lastRequest(ctx)).NotTo(BeEmpty(), "the read was asked for by the hook, not the hourly poll")
		Eventually(func(g Gomega) {
			got := statuses(g, c1, "baton/staging")
			g.Expect(got).NotTo(BeEmpty())
			g.Expect(got[len(got)-1]).To(Equal("success staging: deployed and verified"))
		}).Should(Succeed())

		By("production waits for an approval, then deploys, on the same commit")
		s.approvedOnCommit(ctx, webImage(c1), func(g Gomega) []string { return statuses(g, c1, "baton/production") })
		Expect(statuses(Default, c0, "baton/production")).To(BeEmpty(), "production never ran c0")

		By("the condition says the statuses went through, and the token is nowhere")
		Eventually(func(g Gomega) {
			c := s.commitStatusCondition(ctx, g)
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(c.Reason).To(Equal(batonv1alpha1.CommitStatusSentReason))
			g.Expect(value(g, scrape.families(g), "baton_commit_statuses_total", map[string]string{"namespace": s.ns, "provider": "gitea", "result": "sent"})).
				To(BeNumerically(">=", 4))
		}).Should(Succeed())
		expectNoneOf(ctx, s, logs.String(), token)
	})

	DescribeTable("goes on with the deploy when Gitea refuses the status, and says why on staging",
		func(statusToken func() string, reason, says string) {
			s := newStage(ctx, web0, nil)
			bad := statusToken()
			followGitea(s, bad)
			c0 := dev.head()
			s.deploysSource(ctx, c0)
			Eventually(func(g Gomega) {
				c := s.commitStatusCondition(ctx, g)
				g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
				g.Expect(c.Reason).To(Equal(reason))
				g.Expect(c.Message).To(ContainSubstring(says))
			}).Should(Succeed())
			Expect(imageOf(ctx, s.stagingDep)).To(Equal(webImage(c0)), "the deploy went on")
			expectNoneOf(ctx, s, logs.String(), bad)
		},
		Entry("a token Gitea never issued", func() string { return "0123456789abcdef0123456789abcdef01234567" },
			batonv1alpha1.CommitStatusUnauthorizedReason, `refused the token in key "token" of Secret gitea-status (401 Unauthorized)`),
		Entry("a token that may only read repositories", func() string {
			name := fmt.Sprintf("reader-%d", appRepoSeq.Add(1))
			password, err := forge.CreateUser(name)
			Expect(err).NotTo(HaveOccurred())
			Expect(forge.AsAdmin(http.MethodPut, "/repos/"+repo+"/collaborators/"+name, map[string]any{"permission": "write"}, nil)).To(Succeed())
			t, err := forge.Token(name, password, "read-only", "read:repository")
			Expect(err).NotTo(HaveOccurred())
			return t
		}, batonv1alpha1.CommitStatusUnauthorizedReason, `refused the token in key "token" of Secret gitea-status (403 Forbidden)`),
	)
})
