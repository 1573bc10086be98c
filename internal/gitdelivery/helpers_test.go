package gitdelivery

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fluxcd/pkg/gittestserver"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/delivery"
	batongit "github.com/baton-dev/baton/internal/git"
	"github.com/baton-dev/baton/internal/testenv"
)

// Credentials of the test server. They are distinctive so that the secret
// scan cannot miss them.
const (
	gitUser     = "baton-bot"
	gitPassword = "s3cr3t-Pa55word-6f1d2c"
	namespace   = "team-a"
)

var (
	env       *testenv.Env
	server    *gittestserver.GitServer
	hostKey   ssh.PublicKey // the SSH server's host key
	clientKey []byte        // PEM of an SSH client key
	repoSeq   atomic.Int64
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	if env, err = testenv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "start envtest:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	if server, err = gittestserver.NewTempGitServer(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(server.Root())
	keyDir, err := os.MkdirTemp("", "baton-ssh-keys-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(keyDir)
	server.Auth(gitUser, gitPassword).KeyDir(keyDir)
	if err := server.StartHTTP(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer server.StopHTTP()
	if err := server.ListenSSH(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() { _ = server.StartSSH() }()
	defer func() { _ = server.StopSSH() }()
	pub, err := os.ReadFile(filepath.Join(keyDir, "gitkit.rsa.pub"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if hostKey, _, _, _, err = ssh.ParseAuthorizedKey(pub); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if clientKey, err = newSSHKey(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func newSSHKey() ([]byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(block), nil
}

// knownHostsLine is a known_hosts entry for the test SSH server with key.
func knownHostsLine(key ssh.PublicKey) string {
	addr := strings.TrimPrefix(server.SSHAddress(), "ssh://git@")
	return knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n"
}

// fixture is the config repository every test starts from: one
// kustomization per environment, and a file nobody edits.
func fixture(t *testing.T, envs ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, e := range envs {
		write(t, filepath.Join(dir, e, "kustomization.yaml"),
			"# Production web\nresources:\n  - deployment.yaml\nimages:\n  - name: registry.example/web\n    newTag: v1\n")
		write(t, filepath.Join(dir, e, "deployment.yaml"), "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n")
	}
	write(t, filepath.Join(dir, "README.md"), "config\n")
	return dir
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// remote is one repository on the test server.
type remote struct {
	path string // relative to the server root, ending in .git
	bare string // the bare repository on disk
}

func newRemote(t *testing.T, envs ...string) *remote {
	t.Helper()
	name := fmt.Sprintf("%s-%d.git", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), repoSeq.Add(1))
	if err := server.InitRepo(fixture(t, envs...), "main", name); err != nil {
		t.Fatal(err)
	}
	return &remote{path: name, bare: filepath.Join(server.Root(), name)}
}

func (r *remote) httpURL() string { return server.HTTPAddress() + "/" + r.path }
func (r *remote) sshURL() string  { return server.SSHAddress() + "/" + r.path }

// hook installs a server-side hook script into the bare repository.
func (r *remote) hook(t *testing.T, name, script string) {
	t.Helper()
	path := filepath.Join(r.bare, "hooks", name)
	write(t, path, script)
	if err := os.Chmod(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

func (r *remote) repo(t testing.TB) *git.Repository {
	t.Helper()
	repo, err := git.PlainOpen(r.bare)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// head is the commit a branch points at, zero when there is no branch.
func (r *remote) head(t testing.TB, branch string) plumbing.Hash {
	t.Helper()
	ref, err := r.repo(t).Reference(plumbing.NewBranchReferenceName(branch), true)
	if err != nil {
		return plumbing.ZeroHash
	}
	return ref.Hash()
}

func (r *remote) commit(t testing.TB, sha plumbing.Hash) *object.Commit {
	t.Helper()
	c, err := r.repo(t).CommitObject(sha)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// file is the content of a file at a commit.
func (r *remote) file(t testing.TB, sha plumbing.Hash, name string) string {
	t.Helper()
	f, err := r.commit(t, sha).File(name)
	if err != nil {
		t.Fatalf("%s at %s: %v", name, sha, err)
	}
	s, err := f.Contents()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// log is every commit reachable from a branch, newest first.
func (r *remote) log(t testing.TB, branch string) []*object.Commit {
	t.Helper()
	iter, err := r.repo(t).Log(&git.LogOptions{From: r.head(t, branch)})
	if err != nil {
		t.Fatal(err)
	}
	var out []*object.Commit
	_ = iter.ForEach(func(c *object.Commit) error { out = append(out, c); return nil })
	return out
}

// commitsOf counts the commits on a branch carrying a Promotion's UID.
func (r *remote) commitsOf(t testing.TB, branch string, uid types.UID) int {
	n := 0
	for _, c := range r.log(t, branch) {
		if hasPromotionUID(c.Message, string(uid)) {
			n++
		}
	}
	return n
}

var secretSeq atomic.Int64

// secret creates a credentials Secret in the API server, labelled as such.
func secret(t *testing.T, data map[string]string) *batonv1alpha1.LocalObjectReference {
	t.Helper()
	return typedSecret(t, "", true, data)
}

// typedSecret creates a Secret of a type, labelled as credentials or not.
func typedSecret(t *testing.T, typ corev1.SecretType, labelled bool, data map[string]string) *batonv1alpha1.LocalObjectReference {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: fmt.Sprintf("git-%d", secretSeq.Add(1))}, Type: typ, StringData: data}
	if labelled {
		s.Labels = map[string]string{batonv1alpha1.CredentialsLabel: "true"}
	}
	if typ == corev1.SecretTypeServiceAccountToken {
		s.Annotations = map[string]string{corev1.ServiceAccountNameKey: "default"}
	}
	if err := env.Client.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return &batonv1alpha1.LocalObjectReference{Name: s.Name}
}

func httpSecret(t *testing.T) *batonv1alpha1.LocalObjectReference {
	return secret(t, map[string]string{batongit.UsernameKey: gitUser, batongit.PasswordKey: gitPassword})
}

func sshSecret(t *testing.T) *batonv1alpha1.LocalObjectReference {
	return secret(t, map[string]string{batongit.IdentityKey: string(clientKey), batongit.KnownHostsKey: knownHostsLine(hostKey)})
}

// environment is an Environment whose delivery.git edits <name>/kustomization.yaml.
func environment(name, url string, ref *batonv1alpha1.LocalObjectReference) *batonv1alpha1.Environment {
	return &batonv1alpha1.Environment{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: batonv1alpha1.EnvironmentSpec{
			Workload: &batonv1alpha1.WorkloadReference{Kind: batonv1alpha1.WorkloadKindDeployment, Name: "web", Container: "web"},
			Delivery: batonv1alpha1.Delivery{Git: &batonv1alpha1.GitDelivery{
				URL: url, Branch: "main", Path: name, SecretRef: ref,
				Edit: &batonv1alpha1.ManifestEdit{Kustomize: &batonv1alpha1.KustomizeEdit{ImageName: "registry.example/web"}},
			}},
		},
	}
}

var promoSeq atomic.Int64

// request is a Promotion of e to registry.example/web:<tag>.
func request(e *batonv1alpha1.Environment, tag string) delivery.Request {
	n := promoSeq.Add(1)
	promo := &batonv1alpha1.Promotion{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: fmt.Sprintf("web-%d", n), UID: types.UID(fmt.Sprintf("0b7c5e2a-0000-4000-8000-%012d", n))},
		Spec:       batonv1alpha1.PromotionSpec{Environment: e.Name, Reason: "Release " + tag + " after staging soak"},
		Status:     batonv1alpha1.PromotionStatus{PreviousImage: "registry.example/web:v1", Revision: 2},
	}
	return delivery.Request{Environment: e, Promotion: promo, Image: "registry.example/web:" + tag,
		RequestedBy: "alice", ApprovedBy: []string{"bob", "carol"}}
}

// logSink collects every log line.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (l *logSink) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, prefix+" "+args)
	}, funcr.Options{Verbosity: 10})
}

func (l *logSink) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func testContext(t *testing.T, sink *logSink) context.Context {
	ctx := context.Background()
	if sink != nil {
		ctx = log.IntoContext(ctx, sink.logger())
	}
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	return ctx
}

// testKey stands for the manager's admission key.
var testKey = StaticKey("gitdelivery-test-manager-key-0d9f")

// newDeliverer is a Deliverer that may send credentials to the test
// server over plain HTTP on the loopback, as the dev cluster's manager may.
func newDeliverer(t *testing.T) *Deliverer {
	d := New(env.Client, t.TempDir(), testKey)
	d.Network = batongit.Network{PlainHTTPHosts: []string{"127.0.0.1"}}
	return d
}
