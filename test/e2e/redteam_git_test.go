//go:build e2e

package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/hack/dev/procs"
	"github.com/baton-dev/baton/internal/gitdelivery"
	"github.com/baton-dev/baton/internal/source"
	"github.com/baton-dev/baton/test/e2e/framework"
)

// Ports of this file's own servers, inside the range docs/e2e.md gives the
// red-team specs (E2E_PORT_BASE+80 … +84; the dashboard spec has +85 … +89).
const (
	recorderPortOffset = 80 // a plain-HTTP server that counts what reaches it
	hugeBodyPortOffset = 81 // a "Git server" that answers with an endless error
	// promRecorderPortOffset is mallory's "Prometheus", on 127.0.0.2.
	promRecorderPortOffset = 82
)

// The kustomizations of the red-team config repositories.
const (
	kustomization = "resources:\n  - deployment.yaml\nimages:\n  - name: registry.example.com/web\n    newTag: 1.0.0\n"
	chartValues   = "image:\n  repository: registry.example.com/web\n  tag: 1.0.0\n"
)

// configRepo is a bare repository served by the dev cluster's own Git server
// (git http-backend): anyone who can reach it may push, as a person with push
// rights to a config repository can.
type configRepo struct {
	name, bare, url string
}

func gitCmd(dir, name, email string, args ...string) string {
	GinkgoHelper()
	cmd := exec.CommandContext(suiteCtx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME="+name, "GIT_AUTHOR_EMAIL="+email, "GIT_COMMITTER_NAME="+name, "GIT_COMMITTER_EMAIL="+email)
	out, err := cmd.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "git %s: %s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

// newConfigRepo makes a repository with production, staging and canary
// overlays and production's Helm chart, on branch main.
func newConfigRepo(name string) *configRepo {
	GinkgoHelper()
	r := &configRepo{name: name, bare: filepath.Join(dir, "git", name+".git"),
		url: "http://" + procs.Ports(base).Addr(procs.GitServer) + "/" + name + ".git"}
	gitCmd(dir, "admin", "admin@example.com", "init", "-q", "--bare", "--initial-branch=main", r.bare)
	gitCmd(dir, "admin", "admin@example.com", "--git-dir", r.bare, "config", "http.receivepack", "true")
	r.push("Platform Team", "platform@example.com", "main", "main", "Initial config", func(work string) {
		for _, env := range []string{"production", "staging", "canary"} {
			writeFile(filepath.Join(work, env, "kustomization.yaml"), kustomization)
			writeFile(filepath.Join(work, env, "deployment.yaml"), "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n")
		}
		writeFile(filepath.Join(work, "production", "chart", "values.yaml"), chartValues)
	})
	return r
}

func writeFile(path, content string) {
	GinkgoHelper()
	Expect(os.MkdirAll(filepath.Dir(path), 0o755)).To(Succeed())
	Expect(os.WriteFile(path, []byte(content), 0o644)).To(Succeed())
}

// push clones from over HTTP, lets change edit the clone, commits it as
// name <email> and pushes it to branch to over HTTP, as a person with push
// rights does. It returns the new head.
func (r *configRepo) push(name, email, from, to, message string, change func(work string)) string {
	GinkgoHelper()
	work := GinkgoT().TempDir()
	if out, err := exec.Command("git", "--git-dir", r.bare, "rev-parse", "--verify", "-q", "refs/heads/"+from).Output(); err == nil && len(out) > 0 {
		gitCmd(work, name, email, "clone", "-q", "--branch", from, r.url, ".")
	} else { // the first commit of an empty repository
		gitCmd(work, name, email, "clone", "-q", r.url, ".")
	}
	change(work)
	gitCmd(work, name, email, "add", "-A")
	gitCmd(work, name, email, "commit", "-q", "-m", message)
	gitCmd(work, name, email, "push", "-q", "origin", "HEAD:refs/heads/"+to)
	return r.head(to)
}

// refs is every branch of the repository and its commit.
func (r *configRepo) refs() string {
	GinkgoHelper()
	return gitCmd(dir, "admin", "admin@example.com", "--git-dir", r.bare, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/")
}

func (r *configRepo) head(branch string) string {
	GinkgoHelper()
	return gitCmd(dir, "admin", "admin@example.com", "--git-dir", r.bare, "rev-parse", "refs/heads/"+branch)
}

func (r *configRepo) show(rev, path string) string {
	GinkgoHelper()
	return gitCmd(dir, "admin", "admin@example.com", "--git-dir", r.bare, "show", rev+":"+path)
}

func (r *configRepo) message(rev string) string {
	GinkgoHelper()
	return gitCmd(dir, "admin", "admin@example.com", "--git-dir", r.bare, "log", "-1", "--format=%B", rev)
}

// recorder is a plain-HTTP server on one of this file's ports that counts
// the requests reaching it.
type recorder struct {
	url      string
	requests atomic.Int64
	withAuth atomic.Int64
}

func newRecorder(offset int, answer http.HandlerFunc) *recorder {
	GinkgoHelper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", framework.PortBase(GinkgoT(), offset)))
	Expect(err).NotTo(HaveOccurred())
	rec := &recorder{url: "http://" + ln.Addr().String()}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.requests.Add(1)
		if r.Header.Get("Authorization") != "" {
			rec.withAuth.Add(1)
		}
		answer(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	DeferCleanup(srv.Close)
	return rec
}

var _ = Describe("red team: git and credentials", Label("redteam"), Ordered, func() {
	var mallory client.Client

	BeforeAll(func() {
		scheme := runtime.NewScheme()
		Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
		Expect(batonv1alpha1.AddToScheme(scheme)).To(Succeed())
		var err error
		mallory, err = client.New(framework.RestConfig(GinkgoT(), dir, "mallory"), client.Options{Scheme: scheme})
		Expect(err).NotTo(HaveOccurred())
	})

	editEnvironment := func(name string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{batonv1alpha1.GroupVersion.Group}, Resources: []string{"environments"},
			ResourceNames: []string{name}, Verbs: []string{"get", "patch"}}
	}
	readPromotion := func(name string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{batonv1alpha1.GroupVersion.Group}, Resources: []string{"promotions"},
			ResourceNames: []string{name}, Verbs: []string{"get"}}
	}

	// gitEnvironment creates Environment name delivering to repo's path with
	// edit, as a platform team would.
	gitEnvironment := func(name string, repo *configRepo, path string, edit batonv1alpha1.ManifestEdit, mutate func(*batonv1alpha1.EnvironmentSpec)) {
		GinkgoHelper()
		newEnvironment(name, func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) {
			s.Delivery = batonv1alpha1.Delivery{Git: &batonv1alpha1.GitDelivery{URL: repo.url, Branch: "main", Path: path, Edit: &edit}}
			if mutate != nil {
				mutate(s)
			}
		})
	}
	kustomize := batonv1alpha1.ManifestEdit{Kustomize: &batonv1alpha1.KustomizeEdit{ImageName: "registry.example.com/web"}}

	// mallorySets patches Environment name's delivery.git as mallory.
	mallorySets := func(name, gitPatch string) {
		GinkgoHelper()
		Expect(mallory.Patch(suiteCtx, &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}},
			client.RawPatch(types.MergePatchType, []byte(`{"spec":{"delivery":{"git":`+gitPatch+`}}}`)))).To(Succeed())
	}

	// refused waits until Promotion promo has Failed with reason, its
	// message saying says, and checks that the workload still runs image100
	// at revision 1 and that the lease is free.
	refused := func(promo, env, reason string, says ...string) {
		GinkgoHelper()
		p := waitPhase(promo, batonv1alpha1.PromotionFailed, 2*time.Minute)
		Expect(hasReason(p, reason)).To(BeTrue(), "want reason %s: %s", reason, conditionMessages(p))
		for _, s := range says {
			Expect(conditionMessages(p)).To(ContainSubstring(s))
		}
		Expect(p.Status.Commit).To(BeEmpty(), "no commit is recorded")
		Eventually(func(g Gomega) {
			expectDeployment(g, env, image100)
			e := getEnv(g, env)
			g.Expect(e.Status.Current.Revision).To(Equal(int64(1)))
			g.Expect(e.Status.ActivePromotion).To(BeNil())
		}).WithTimeout(30 * time.Second).Should(Succeed())
	}

	// untouched checks that the repository's branches are where they were
	// and that production's files are as the platform team wrote them.
	untouched := func(repo *configRepo, refs string) {
		GinkgoHelper()
		Expect(repo.refs()).To(Equal(refs), "no branch moved")
		Expect(repo.show("main", "production/kustomization.yaml")).To(Equal(strings.TrimSpace(kustomization)))
		Expect(repo.show("main", "production/chart/values.yaml")).To(Equal(strings.TrimSpace(chartValues)))
	}

	Context("class 6: an edit never leaves delivery.git.path", func() {
		symlinked := func(env, path string, edit batonv1alpha1.ManifestEdit, links map[string]string, reason string, says ...string) {
			GinkgoHelper()
			repo := newConfigRepo("rt-" + env)
			repo.push("Mallory", "mallory@example.com", "main", "main", "Share the config", func(work string) {
				for link, target := range links {
					p := filepath.Join(work, filepath.FromSlash(link))
					Expect(os.RemoveAll(p)).To(Succeed())
					Expect(os.MkdirAll(filepath.Dir(p), 0o755)).To(Succeed())
					Expect(os.Symlink(target, p)).To(Succeed())
				}
			})
			refs := repo.refs()
			gitEnvironment(env, repo, path, edit, nil)
			Expect(alice.Create(suiteCtx, promotion(env+"-110", env, image110, "red team: symlink"))).To(Succeed())
			refused(env+"-110", env, reason, says...)
			untouched(repo, refs)
		}

		It("refuses staging's kustomization linked to production's, naming the link and its target", func() {
			symlinked("rt-link-file", "staging", kustomize,
				map[string]string{"staging/kustomization.yaml": "../production/kustomization.yaml"},
				batonv1alpha1.PathEscapesReason, "symlink staging/kustomization.yaml -> ../production/kustomization.yaml leaves delivery.git.path staging for production/kustomization.yaml")
		})

		It("refuses a symlinked directory inside the path that leads into production's chart", func() {
			symlinked("rt-link-dir", "staging", batonv1alpha1.ManifestEdit{Helm: &batonv1alpha1.HelmEdit{File: "chart/values.yaml"}},
				map[string]string{"staging/chart": "../production/chart"},
				batonv1alpha1.PathEscapesReason, "symlink staging/chart -> ../production/chart leaves delivery.git.path staging")
		})

		It("refuses a delivery.git.path that is itself a link to production", func() {
			symlinked("rt-link-path", "canary", kustomize, map[string]string{"canary": "production"},
				batonv1alpha1.PathEscapesReason, "canary is a symlink to production")
		})

		It("refuses a link that leads outside the checkout", func() {
			symlinked("rt-link-out", "staging", kustomize,
				map[string]string{"staging/kustomization.yaml": strings.Repeat("../", 16) + "etc/hostname"},
				batonv1alpha1.PathEscapesReason, "leaves the repository")
		})
	})

	Context("class 7: credentials and the network", func() {
		// A staging editor repoints delivery.git at something else; alice's
		// next Promotion must not carry the Secret there.
		repointed := func(env, gitPatch string, prepare func(), reason string, says ...string) *configRepo {
			GinkgoHelper()
			repo := newConfigRepo("rt-" + env)
			refs := repo.refs()
			Expect(admin.Create(suiteCtx, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: env + "-git"}, Type: corev1.SecretTypeBasicAuth,
				StringData: map[string]string{corev1.BasicAuthUsernameKey: "baton-bot", corev1.BasicAuthPasswordKey: "rt-Pa55word-" + env},
			})).To(Succeed())
			gitEnvironment(env, repo, "staging", kustomize, func(s *batonv1alpha1.EnvironmentSpec) {
				s.Delivery.Git.SecretRef = &batonv1alpha1.LocalObjectReference{Name: env + "-git"}
			})
			if prepare != nil {
				prepare()
			}
			grantMallory(env, ns, editEnvironment(env))
			mallorySets(env, gitPatch)
			Expect(alice.Create(suiteCtx, promotion(env+"-110", env, image110, "red team: network"))).To(Succeed())
			refused(env+"-110", env, reason, says...)
			untouched(repo, refs)
			return repo
		}

		It("never sends credentials over plain http://, and nothing reaches the server", func() {
			rec := newRecorder(recorderPortOffset, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
			url := strings.Replace(rec.url, "127.0.0.1", "localhost", 1) + "/config.git"
			repointed("rt-plain-http", `{"url":"`+url+`"}`, nil, batonv1alpha1.InsecureTransportReason,
				"delivery.git.url "+url+" is plain http://", "never sends the credentials of delivery.git.secretRef (Secret web/rt-plain-http-git) without TLS")
			Expect(rec.requests.Load()).To(BeZero())
			Expect(rec.withAuth.Load()).To(BeZero())
		})

		It("refuses a ServiceAccount token Secret named as credentials", func() {
			repointed("rt-sa-token", `{"secretRef":{"name":"rt-deployer-token"}}`, func() {
				Expect(admin.Create(suiteCtx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rt-deployer"}})).To(Succeed())
				Expect(admin.Create(suiteCtx, &corev1.Secret{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rt-deployer-token", Annotations: map[string]string{corev1.ServiceAccountNameKey: "rt-deployer"}},
					Type:       corev1.SecretTypeServiceAccountToken,
				})).To(Succeed())
			}, batonv1alpha1.GitCredentialsInvalidReason,
				"delivery.git.secretRef: Secret web/rt-deployer-token is a ServiceAccount token (type kubernetes.io/service-account-token); Baton never sends one to a Git server")
		})

		It("refuses an unlabelled Opaque Secret, naming what it lacks", func() {
			repointed("rt-opaque", `{"secretRef":{"name":"rt-database"}}`, func() {
				Expect(admin.Create(suiteCtx, &corev1.Secret{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rt-database"},
					StringData: map[string]string{"username": "postgres", "password": "rt-db-Pa55word"},
				})).To(Succeed())
			}, batonv1alpha1.GitCredentialsInvalidReason,
				"Secret web/rt-database (type Opaque) lacks the label promotion.baton.dev/credentials=true")
		})

		It("refuses a host outside --allowed-git-hosts", func() {
			repointed("rt-host", `{"url":"https://git.attacker.example/config.git"}`, nil, batonv1alpha1.HostNotAllowedReason,
				`delivery.git.url names host "git.attacker.example", which is not in the manager's --allowed-git-hosts (127.0.0.1,localhost)`)
		})

		It("refuses the cloud metadata address, with or without credentials", func() {
			repointed("rt-metadata", `{"url":"http://169.254.169.254/latest/meta-data.git","secretRef":null}`, nil, batonv1alpha1.HostNotAllowedReason,
				`names host "169.254.169.254"`)
		})

		It("refuses a file:// URL that would read the manager's own disk, at the API server", func() {
			const env = "rt-file"
			repo := newConfigRepo("rt-" + env)
			gitEnvironment(env, repo, "staging", kustomize, nil)
			grantMallory(env, ns, editEnvironment(env))
			err := mallory.Patch(suiteCtx, &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: env}},
				client.RawPatch(types.MergePatchType, []byte(`{"spec":{"delivery":{"git":{"url":"file:///etc"}}}}`)))
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
			Expect(err.Error()).To(ContainSubstring("spec.delivery.git.url"))
			Eventually(func(g Gomega) { g.Expect(getEnv(g, env).Spec.Delivery.Git.URL).To(Equal(repo.url)) }).Should(Succeed())
		})

		It("reads a few kilobytes of an endless error body, and the manager and its webhook stay up", func() {
			const env = "rt-huge-body"
			var sent atomic.Int64
			rec := newRecorder(hugeBodyPortOffset, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusInternalServerError)
				chunk := bytes.Repeat([]byte("x"), 64<<10)
				for sent.Load() < 4<<30 && r.Context().Err() == nil {
					if _, err := w.Write(chunk); err != nil {
						return
					}
					sent.Add(int64(len(chunk)))
				}
			})
			pid := managerPid()
			newEnvironment(env, func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) {
				s.Delivery = batonv1alpha1.Delivery{Git: &batonv1alpha1.GitDelivery{URL: rec.url + "/config.git", Branch: "main", Path: "staging", Edit: &kustomize}}
			})
			Expect(alice.Create(suiteCtx, promotion(env+"-110", env, image110, "red team: huge body"))).To(Succeed())
			// Baton asked, and asks again with backoff: each time the server
			// would send gigabytes.
			Eventually(rec.requests.Load).WithTimeout(time.Minute).Should(BeNumerically(">=", 3))
			Expect(managerPid()).To(Equal(pid), "the manager did not restart")
			Expect(framework.RSSMiB(map[int]string{pid: "manager"})).To(BeNumerically("<", 400), "the manager's memory")
			Expect(sent.Load()).To(BeNumerically("<", 3*int64(1<<30)), "Baton stopped reading each body early")
			// The webhook still answers: a cancel goes through admission.
			Expect(alice.Patch(suiteCtx, &batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: env + "-110"}},
				client.RawPatch(types.MergePatchType, []byte(`{"spec":{"cancel":true}}`)))).To(Succeed())
			Eventually(func(g Gomega) { expectDeployment(g, env, image100) }).Should(Succeed())
		})
	})

	Context("class 7b: a verification check that calls out", func() {
		// mallory may edit one Environment, not read Secrets. She points
		// its check at her own server (on 127.0.0.2, outside the dev
		// manager's --allowed-prometheus-hosts), naming the team's
		// Prometheus token, or at the cloud metadata address.
		DescribeTable("refuses a host outside --allowed-prometheus-hosts before any connection, so no token leaves",
			func(env, address string) {
				ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.2:%d", framework.PortBase(GinkgoT(), promRecorderPortOffset)))
				Expect(err).NotTo(HaveOccurred())
				var accepted atomic.Int64
				go func() {
					for {
						c, err := ln.Accept()
						if err != nil {
							return
						}
						accepted.Add(1)
						_ = c.Close()
					}
				}()
				DeferCleanup(ln.Close)
				address = strings.ReplaceAll(address, "RECORDER", ln.Addr().String())

				Expect(admin.Create(suiteCtx, &corev1.Secret{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: env + "-prometheus", Labels: map[string]string{batonv1alpha1.CredentialsLabel: "true"}},
					StringData: map[string]string{"token": "rt-prometheus-t0ken-" + env},
				})).To(Succeed())
				newEnvironment(env, func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) {
					s.Verification.Checks = []batonv1alpha1.VerificationCheck{errorRateCheck(1)}
				})
				// The positive signal first: the team's check runs against
				// the allowed Prometheus.
				Eventually(func(g Gomega) {
					g.Expect(checkStatus(g, env, image100, "error-rate").Verdict).To(Equal(batonv1alpha1.CheckPass))
				}).WithTimeout(time.Minute).Should(Succeed())

				grantMallory(env, ns, editEnvironment(env))
				patch := fmt.Sprintf(`{"spec":{"verification":{"checks":[{"name":"error-rate","prometheus":{"address":%q,"query":"up","below":"1","secretRef":{"name":%q}}}]}}}`,
					address, env+"-prometheus")
				Expect(mallory.Patch(suiteCtx, &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: env}},
					client.RawPatch(types.MergePatchType, []byte(patch)))).To(Succeed())
				host := strings.Split(strings.TrimPrefix(address, "https://"), ":")[0]
				Eventually(func(g Gomega) {
					// The image was verified before: an Error verdict keeps
					// that (docs/verification.md), so the check says it.
					cs := checkStatus(g, env, image100, "error-rate")
					g.Expect(cs.Reason).To(Equal(batonv1alpha1.HostNotAllowedReason), cs.Message)
					g.Expect(cs.Verdict).To(Equal(batonv1alpha1.CheckError))
					g.Expect(cs.Message).To(ContainSubstring(`spec.verification.checks[0].prometheus: address names host %q, which is not in the manager's --allowed-prometheus-hosts (127.0.0.1,localhost)`, host))
					g.Expect(cs.Message).NotTo(ContainSubstring("rt-prometheus-t0ken"))
					e := getEnv(g, env)
					g.Expect(e.Status.Conditions).NotTo(ContainElement(HaveField("Message", ContainSubstring("rt-prometheus-t0ken"))))
				}).WithTimeout(time.Minute).Should(Succeed())
				Expect(accepted.Load()).To(BeZero(), "mallory's server got no connection")
				Eventually(func(g Gomega) { expectDeployment(g, env, image100) }).Should(Succeed())
			},
			Entry("mallory's own server, with the team's token", "rt-prom-own", "https://RECORDER"),
			Entry("the cloud metadata address", "rt-prom-metadata", "https://169.254.169.254:443"),
		)
	})

	Context("class 7c: commit statuses that would carry the forge token", func() {
		// mallory may edit one entry Environment, not read Secrets. She
		// changes spec.source.commitStatus so that the team's forge token
		// would travel in the clear, or to a forge Baton would have to
		// guess. The API server refuses each, naming the field, and the
		// Environment keeps what the team set.
		It("refuses a plain http:// address, credentials in the address and an unknown provider, naming the field", func() {
			const env = "rt-commit-status"
			team := `{"provider":"gitea","address":"https://127.0.0.1:1","repository":"acme/web","secretRef":{"name":"rt-forge-token"}}`
			newEnvironment(env, func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) {
				// A host outside --allowed-git-hosts: the source controller
				// never connects, and no Promotion is created.
				s.Source = &batonv1alpha1.Source{Git: batonv1alpha1.GitSource{URL: "https://git.rt.example/acme/web.git"}, Image: "registry.example.com/web:{{ .ShortSHA }}"}
			})
			grantMallory(env, ns, editEnvironment(env))
			patchAs := func(commitStatus string) error {
				return mallory.Patch(suiteCtx, &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: env}},
					client.RawPatch(types.MergePatchType, []byte(`{"spec":{"source":{"commitStatus":`+commitStatus+`}}}`)))
			}
			// The positive signal first: mallory may edit it, and a valid
			// commitStatus is accepted.
			Expect(patchAs(team)).To(Succeed())
			for _, tc := range []struct{ patch, field, why string }{
				{`{"address":"http://127.0.0.2:8080"}`, "spec.source.commitStatus.address", "address must be https://: the token travels with every call"},
				{`{"address":"https://mallory:pw@127.0.0.1:1"}`, "spec.source.commitStatus.address", "no spaces, credentials, query or fragment"},
				{`{"provider":"bitbucket"}`, "spec.source.commitStatus.provider", `Unsupported value: "bitbucket"`},
				{`{"provider":null}`, "spec.source.commitStatus.provider", "the host of git.url is neither github.com nor gitlab.com"},
			} {
				err := patchAs(tc.patch)
				Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%s: %v", tc.patch, err)
				Expect(err.Error()).To(ContainSubstring(tc.field), tc.patch)
				Expect(err.Error()).To(ContainSubstring(tc.why), tc.patch)
			}
			e := &batonv1alpha1.Environment{}
			Expect(admin.Get(suiteCtx, types.NamespacedName{Namespace: ns, Name: env}, e)).To(Succeed())
			Expect(e.Spec.Source.CommitStatus.Address).To(Equal("https://127.0.0.1:1"))
			Expect(e.Spec.Source.CommitStatus.Provider).To(Equal(batonv1alpha1.CommitStatusGitea))
		})
	})

	Context("class 8: a commit someone else pushed", func() {
		// forged creates an Environment needing one approval, lets mallory
		// read the waiting Promotion's UID and push a commit carrying it,
		// then bob approves.
		forged := func(env, author, email, signature string) {
			GinkgoHelper()
			repo := newConfigRepo("rt-" + env)
			gitEnvironment(env, repo, "production", kustomize, func(s *batonv1alpha1.EnvironmentSpec) { s.Approval.Required = 1 })
			Expect(alice.Create(suiteCtx, promotion(env+"-110", env, image110, "red team: forged commit"))).To(Succeed())
			waitPhase(env+"-110", batonv1alpha1.PromotionWaitingForApproval, time.Minute)
			grantMallory(env, ns, readPromotion(env+"-110"))
			p := &batonv1alpha1.Promotion{}
			Expect(mallory.Get(suiteCtx, types.NamespacedName{Namespace: ns, Name: env + "-110"}, p)).To(Succeed())
			msg := "Promote " + env + " to " + image110 + "\n\nBaton-Promotion: web/" + p.Name + "\nBaton-Promotion-UID: " + string(p.UID) + "\nBaton-Revision: 2\nPromoted-by: alice\nApproved-by: bob\n"
			if signature != "" {
				msg += gitdelivery.TrailerSignature + ": " + signature + "\n"
			}
			sha := repo.push(author, email, "main", "main", msg, func(work string) {
				writeFile(filepath.Join(work, "production", "kustomization.yaml"), strings.Replace(kustomization, "1.0.0", "1.1.0", 1))
				writeFile(filepath.Join(work, "production", "rbac.yaml"), "kind: ClusterRoleBinding\n")
			})
			refs := repo.refs()
			Expect(approve(bob, env+"-110")).To(Succeed())
			refused(env+"-110", env, batonv1alpha1.ForeignCommitReason,
				"commit "+sha[:12]+" carries this Promotion's Baton-Promotion-UID trailer, but Baton did not make it")
			Expect(repo.refs()).To(Equal(refs), "Baton pushed nothing on top of mallory's commit")
		}

		It("does not count mallory's commit carrying the Promotion's UID trailer as delivered", func() {
			forged("rt-forged", "Mallory", "mallory@example.com", "")
		})

		It("does not count a forged commit with Baton's author and a signature copied from Baton's own commit", func() {
			// A genuine delivery first: Baton's commit carries a signature,
			// sits on main's head and changes one file.
			const canary = "rt-genuine"
			repo := newConfigRepo("rt-" + canary)
			before := repo.head("main")
			gitEnvironment(canary, repo, "canary", kustomize, nil)
			Expect(alice.Create(suiteCtx, promotion(canary+"-110", canary, image110, "red team: genuine"))).To(Succeed())
			p := waitPhase(canary+"-110", batonv1alpha1.PromotionRollingOut, 2*time.Minute)
			Expect(repo.head("main")).To(Equal(p.Status.Commit))
			Expect(gitCmd(dir, "admin", "admin@example.com", "--git-dir", repo.bare, "rev-parse", p.Status.Commit+"^")).To(Equal(before))
			Expect(gitCmd(dir, "admin", "admin@example.com", "--git-dir", repo.bare, "diff", "--name-only", before, p.Status.Commit)).To(Equal("canary/kustomization.yaml"))
			var copied string
			for _, line := range strings.Split(repo.message(p.Status.Commit), "\n") {
				if v, ok := strings.CutPrefix(line, gitdelivery.TrailerSignature+": "); ok {
					copied = v
				}
			}
			Expect(copied).To(HaveLen(64))
			forged("rt-forged-copy", gitdelivery.DefaultAuthorName, gitdelivery.DefaultAuthorEmail, copied)
		})

		It("never builds on a pushBranch that mallory pre-seeded", func() {
			const env = "rt-seeded"
			repo := newConfigRepo("rt-" + env)
			seed := repo.push("Mallory", "mallory@example.com", "main", "baton/"+env, "Add a helper", func(work string) {
				writeFile(filepath.Join(work, "production", "rbac.yaml"), "kind: ClusterRoleBinding\n")
			})
			refs := repo.refs()
			gitEnvironment(env, repo, "production", kustomize, func(s *batonv1alpha1.EnvironmentSpec) { s.Delivery.Git.PushBranch = "baton/" + env })
			Expect(alice.Create(suiteCtx, promotion(env+"-110", env, image110, "red team: pre-seeded pushBranch"))).To(Succeed())
			refused(env+"-110", env, batonv1alpha1.PushBranchDivergedReason,
				`delivery.git.pushBranch "baton/`+env+`" (at `+seed[:12]+`) holds commits that are not on delivery.git.branch "main"`)
			untouched(repo, refs)
		})
	})

	Context("class 10: the hook receiver", func() {
		hookURL := func(path string) string { return "http://" + procs.Ports(base).Addr(procs.Hooks) + path }
		hookToken := func() string {
			GinkgoHelper()
			b, err := os.ReadFile(filepath.Join(dir, "git", "hook-token"))
			Expect(err).NotTo(HaveOccurred())
			return strings.TrimSpace(string(b))
		}
		body := []byte(`{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000","after":"0123456789abcdef0123456789abcdef01234567","repository":{"full_name":"acme/web"}}`)
		post := func(path, secret string) (int, string, time.Duration) {
			GinkgoHelper()
			req, err := http.NewRequest(http.MethodPost, hookURL(path), bytes.NewReader(body))
			Expect(err).NotTo(HaveOccurred())
			req.Header.Set("X-GitHub-Event", "push")
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write(body)
			req.Header.Set(source.GitHubSignatureHeader, "sha256="+hex.EncodeToString(mac.Sum(nil)))
			start := time.Now()
			resp, err := http.DefaultClient.Do(req)
			Expect(err).NotTo(HaveOccurred())
			defer resp.Body.Close()
			answer, err := io.ReadAll(resp.Body)
			Expect(err).NotTo(HaveOccurred())
			return resp.StatusCode, strings.TrimSpace(string(answer)), time.Since(start)
		}
		alike := func(path, secret string) {
			GinkgoHelper()
			code, answer, took := post(path, secret)
			Expect(code).To(Equal(http.StatusUnauthorized), answer)
			Expect(answer).To(Equal(source.Refused))
			Expect(took).To(BeNumerically(">=", source.DefaultRefusalFloor))
		}

		It("answers a bad signature for staging exactly as a hook for an Environment that does not exist", func() {
			before := getEnv(Default, "staging").Annotations[batonv1alpha1.SourceRequestedAtAnnotation]
			alike("/hooks/web/staging", "not-the-token")
			alike("/hooks/web/no-such-environment", "not-the-token")
			alike("/hooks/web/no-such-environment", hookToken())
			Expect(getEnv(Default, "staging").Annotations[batonv1alpha1.SourceRequestedAtAnnotation]).To(Equal(before), "no read was requested")
		})

		It("answers alike for an Environment without webhooks and a namespace that does not exist", func() {
			alike("/hooks/web/production", hookToken())
			alike("/hooks/no-such-namespace/staging", hookToken())
		})

		It("spends staging's rate limit only on hooks that authenticate", func() {
			for range 3 * source.DefaultPerEnvBurst {
				alike("/hooks/web/staging", "not-the-token")
			}
			code, answer, _ := post("/hooks/web/staging", hookToken())
			Expect(code).To(Equal(http.StatusAccepted), answer)
			Expect(answer).To(HavePrefix("accepted:"))
			Eventually(func(g Gomega) {
				g.Expect(getEnv(g, "staging").Annotations).To(HaveKey(batonv1alpha1.SourceRequestedAtAnnotation))
			}).Should(Succeed())
		})
	})
})
