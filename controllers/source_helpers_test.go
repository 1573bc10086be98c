package controllers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fluxcd/pkg/gittestserver"
	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	batongit "github.com/baton-dev/baton/internal/git"
	"github.com/baton-dev/baton/internal/source"
)

// Credentials of the application repository's server, and the webhook
// secret. Distinctive, so that the secret scan cannot miss them.
const (
	appGitUser     = "ci-reader"
	appGitPassword = "app-Pa55word-91c2e7d4"
	hookSecret     = "hook-s3cret-7b1e0a5f93"
	imageTemplate  = "registry.example.com/web:{{ .ShortSHA }}"
)

var appRepoSeq atomic.Int64

// gitServer starts a real Git server over HTTP with basic auth, for the
// specs of one container.
func gitServer() *gittestserver.GitServer {
	GinkgoHelper()
	srv, err := gittestserver.NewTempGitServer()
	Expect(err).NotTo(HaveOccurred())
	srv.Auth(appGitUser, appGitPassword)
	Expect(srv.StartHTTP()).To(Succeed())
	DeferCleanup(func() { srv.StopHTTP(); _ = os.RemoveAll(srv.Root()) })
	return srv
}

// appRepo is an application repository on the server and a developer's
// in-memory clone of it, from which "merges" are pushed.
type appRepo struct {
	url   string
	local *git.Repository
	auth  *githttp.BasicAuth
}

func newAppRepo(srv *gittestserver.GitServer) *appRepo {
	GinkgoHelper()
	dir := GinkgoT().TempDir()
	Expect(os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n"), 0o644)).To(Succeed())
	name := fmt.Sprintf("app-%d.git", appRepoSeq.Add(1))
	Expect(srv.InitRepo(dir, "main", name)).To(Succeed())
	r := &appRepo{url: srv.HTTPAddress() + "/" + name, auth: &githttp.BasicAuth{Username: appGitUser, Password: appGitPassword}}
	local, err := git.Clone(memory.NewStorage(), memfs.New(), &git.CloneOptions{URL: r.url, Auth: r.auth, ReferenceName: "refs/heads/main"})
	Expect(err).NotTo(HaveOccurred())
	r.local = local
	return r
}

func (r *appRepo) head() string {
	GinkgoHelper()
	ref, err := r.local.Head()
	Expect(err).NotTo(HaveOccurred())
	return ref.Hash().String()
}

// merge commits a change on main and pushes it, as a merged pull request
// would. It returns the new head.
func (r *appRepo) merge(subject string) string {
	GinkgoHelper()
	wt, err := r.local.Worktree()
	Expect(err).NotTo(HaveOccurred())
	f, err := wt.Filesystem.OpenFile("CHANGES", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	Expect(err).NotTo(HaveOccurred())
	_, _ = f.Write([]byte(subject + "\n"))
	Expect(f.Close()).To(Succeed())
	_, err = wt.Add("CHANGES")
	Expect(err).NotTo(HaveOccurred())
	sig := &object.Signature{Name: "Dev Eloper", Email: "dev@example.com", When: time.Now()}
	sha, err := wt.Commit(subject+"\n\nbody line", &git.CommitOptions{Author: sig, Committer: sig})
	Expect(err).NotTo(HaveOccurred())
	r.push("refs/heads/main:refs/heads/main")
	return sha.String()
}

// forcePush moves main to sha.
func (r *appRepo) forcePush(sha string) {
	GinkgoHelper()
	r.push("+" + sha + ":refs/heads/main")
	Expect(r.local.Storer.SetReference(plumbing.NewHashReference("refs/heads/main", plumbing.NewHash(sha)))).To(Succeed())
}

func (r *appRepo) push(spec string) {
	GinkgoHelper()
	Expect(r.local.Push(&git.PushOptions{RemoteName: "origin", Auth: r.auth, RefSpecs: []config.RefSpec{config.RefSpec(spec)}})).To(Succeed())
}

// sourceSecrets creates the read credentials and the webhook secret.
func sourceSecrets(ctx context.Context, ns string) {
	GinkgoHelper()
	Expect(k8sClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app-git"},
		Type:       corev1.SecretTypeBasicAuth,
		StringData: map[string]string{batongit.UsernameKey: appGitUser, batongit.PasswordKey: appGitPassword},
	})).To(Succeed())
	Expect(k8sClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app-hook"},
		StringData: map[string]string{source.WebhookTokenKey: hookSecret},
	})).To(Succeed())
}

// follow sets staging's spec.source to the repository.
func (s *stage) follow(ctx context.Context, repo *appRepo, interval time.Duration) {
	GinkgoHelper()
	sourceSecrets(ctx, s.ns)
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.staging), s.staging)).To(Succeed())
	base := s.staging.DeepCopy()
	s.staging.Spec.Source = &batonv1alpha1.Source{
		Git: batonv1alpha1.GitSource{
			URL:              repo.url,
			SecretRef:        &batonv1alpha1.LocalObjectReference{Name: "app-git"},
			Interval:         &metav1.Duration{Duration: interval},
			WebhookSecretRef: &batonv1alpha1.LocalObjectReference{Name: "app-hook"},
		},
		Image: imageTemplate,
	}
	Expect(k8sClient.Patch(ctx, s.staging, client.MergeFrom(base))).To(Succeed())
}

// webImage is the image the template renders for sha.
func webImage(sha string) string { return "registry.example.com/web:" + sha[:source.ShortSHALen] }

// srcPromotion waits for the source Promotion of sha.
func (s *stage) srcPromotion(ctx context.Context, sha string) *batonv1alpha1.Promotion {
	GinkgoHelper()
	p := &batonv1alpha1.Promotion{}
	Eventually(func() error {
		return k8sClient.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: source.PromotionName("staging", sha)}, p)
	}).Should(Succeed())
	return p
}

// deploysSource waits for the Promotion of sha and plays its rollout.
func (s *stage) deploysSource(ctx context.Context, sha string) *batonv1alpha1.Promotion {
	GinkgoHelper()
	p := s.srcPromotion(ctx, sha)
	s.completeRollout(ctx, s.stagingDep, webImage(sha))
	expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
	return p
}

// sourcePromotions are the commits that have a source Promotion in the
// namespace.
func sourcePromotions(ctx context.Context, ns string) []string {
	GinkgoHelper()
	var list batonv1alpha1.PromotionList
	Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, p := range list.Items {
		if sha, ok := p.Annotations[batonv1alpha1.SourceCommitAnnotation]; ok {
			out = append(out, sha)
		}
	}
	return out
}

// requestRead annotates the Environment as the receiver does, and returns
// the request for handled.
func (s *stage) requestRead(ctx context.Context) string {
	GinkgoHelper()
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.staging), s.staging)).To(Succeed())
	base := s.staging.DeepCopy()
	if s.staging.Annotations == nil {
		s.staging.Annotations = map[string]string{}
	}
	request := time.Now().UTC().Format(time.RFC3339Nano)
	s.staging.Annotations[batonv1alpha1.SourceRequestedAtAnnotation] = request
	Expect(k8sClient.Patch(ctx, s.staging, client.MergeFrom(base))).To(Succeed())
	return request
}

// lastRequest is the read request staging carries now ("" for none).
func (s *stage) lastRequest(ctx context.Context) string {
	GinkgoHelper()
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.staging), s.staging)).To(Succeed())
	return s.staging.Annotations[batonv1alpha1.SourceRequestedAtAnnotation]
}

// readTrigger is what makes the source reconciler read the branch: a spec
// change or an annotation change.
type readTrigger struct {
	generation  int64
	annotations map[string]string
}

// readTriggers is staging's readTrigger now. The receiver writes before it
// answers, so comparing it across a hook shows whether the hook asked for a
// read.
func (s *stage) readTriggers(ctx context.Context) readTrigger {
	GinkgoHelper()
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.staging), s.staging)).To(Succeed())
	return readTrigger{generation: s.staging.Generation, annotations: s.staging.Annotations}
}

// handled waits until the source reconciler has acted on request and wrote
// its outcome, Tracking: whatever Promotion that read creates exists by then.
func (s *stage) handled(ctx context.Context, request string) {
	GinkgoHelper()
	Expect(request).NotTo(BeEmpty())
	Eventually(func(g Gomega) {
		c := s.sourceCondition(ctx, g)
		g.Expect(s.staging.Status.Source).NotTo(BeNil())
		g.Expect(s.staging.Status.Source.LastHandledRequest).To(Equal(request))
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(batonv1alpha1.TrackingReason), c.Message)
	}).Should(Succeed())
}

// receiver serves the webhook receiver over real HTTP.
func receiver() *httptest.Server {
	GinkgoHelper()
	srv := httptest.NewServer(&source.Receiver{Reader: k8sClient, Client: k8sClient, Log: GinkgoLogr})
	DeferCleanup(srv.Close)
	return srv
}

// pushPayload is a push event body as the forges send it.
func pushPayload(ref, after string) []byte {
	return []byte(fmt.Sprintf(`{"ref":%q,"before":"0000000000000000000000000000000000000000","after":%q,"repository":{"full_name":"acme/web"}}`, ref, after))
}

func githubSignature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// postHook sends a GitHub push hook signed with secret; it returns the
// status and the one-line answer.
func postHook(url string, body []byte, secret string) (int, string) {
	GinkgoHelper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	req.Header.Set(source.GitHubSignatureHeader, githubSignature(secret, body))
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return resp.StatusCode, strings.TrimSpace(string(answer))
}
