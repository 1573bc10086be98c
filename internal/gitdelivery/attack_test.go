package gitdelivery

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	corev1 "k8s.io/api/core/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	batongit "github.com/baton-dev/baton/internal/git"
	"github.com/baton-dev/baton/internal/outcome"
)

// pushAs commits, as someone with push rights to the repository, whatever
// change does to a clone of branch, and pushes it to target with the git
// binary. It returns the new head of target.
func (r *remote) pushAs(t *testing.T, name, email, branch, target, message string, change func(dir string)) plumbing.Hash {
	t.Helper()
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_AUTHOR_NAME="+name, "GIT_AUTHOR_EMAIL="+email, "GIT_COMMITTER_NAME="+name, "GIT_COMMITTER_EMAIL="+email)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	git("clone", "-q", "--branch", branch, r.bare, ".")
	change(dir)
	git("add", "-A")
	git("commit", "-q", "-m", message)
	git("push", "-q", "origin", "HEAD:refs/heads/"+target)
	return r.head(t, target)
}

// refs is every branch of the repository and its head.
func (r *remote) refs(t *testing.T) map[string]plumbing.Hash {
	t.Helper()
	out := map[string]plumbing.Hash{}
	iter, err := r.repo(t).Branches()
	if err != nil {
		t.Fatal(err)
	}
	_ = iter.ForEach(func(ref *plumbing.Reference) error { out[ref.Name().Short()] = ref.Hash(); return nil })
	return out
}

func expectStalled(t *testing.T, err error, reason string, says ...string) {
	t.Helper()
	st, ok := outcome.AsStalled(err)
	if !ok || st.Reason != reason {
		t.Fatalf("error %v, want Stalled %s", err, reason)
	}
	for _, s := range says {
		if !strings.Contains(st.Message, s) {
			t.Errorf("message %q lacks %q", st.Message, s)
		}
	}
}

// TestSymlinkOutOfTheDeliveryPath: someone with push rights commits a link
// in staging's directory; staging's Promotion must never edit what the
// link points at. Baton stalls with PathEscapes and pushes nothing.
func TestSymlinkOutOfTheDeliveryPath(t *testing.T) {
	outside := strings.Repeat("../", 16) + "etc/hostname"
	cases := []struct {
		name  string
		path  string
		links map[string]string
		says  []string
	}{
		{"file linked to production's", "staging", map[string]string{"staging/kustomization.yaml": "../production/kustomization.yaml"},
			[]string{"symlink staging/kustomization.yaml -> ../production/kustomization.yaml leaves delivery.git.path staging for production/kustomization.yaml"}},
		{"the delivery path linked to production", "canary", map[string]string{"canary": "production"},
			[]string{"canary is a symlink to production"}},
		// go-git writes an absolute link relative to the worktree, so the
		// way out is a relative one.
		{"link outside the checkout", "staging", map[string]string{"staging/kustomization.yaml": outside},
			[]string{"-> " + outside + " leaves the repository"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRemote(t, "production")
			r.pushAs(t, "Mallory", "mallory@example.com", "main", "main", "Link staging", func(dir string) {
				for link, target := range tc.links {
					p := filepath.Join(dir, filepath.FromSlash(link))
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.Symlink(target, p); err != nil {
						t.Fatal(err)
					}
				}
			})
			before := r.refs(t)
			production := r.file(t, before["main"], "production/kustomization.yaml")
			e := environment(tc.path, r.httpURL(), httpSecret(t))
			e.Name = "staging"
			_, err := newDeliverer(t).Deliver(testContext(t, nil), request(e, "v2"))
			expectStalled(t, err, batonv1alpha1.PathEscapesReason, tc.says...)
			if after := r.refs(t); len(after) != len(before) || after["main"] != before["main"] {
				t.Errorf("refs moved: %v, were %v", after, before)
			}
			if got := r.file(t, r.head(t, "main"), "production/kustomization.yaml"); got != production {
				t.Errorf("production's file changed:\n%s", got)
			}
		})
	}
}

// TestForgedCommitIsNotDelivered: UIDs are readable by every viewer, so
// someone with push rights can write a commit carrying a Promotion's UID
// trailer (even Baton's author and a copied signature). It must not count
// as the Promotion's delivery: Baton stalls with ForeignCommit and pushes
// nothing on top.
func TestForgedCommitIsNotDelivered(t *testing.T) {
	// A genuine signature, of another Promotion, to copy.
	other := newRemote(t, "production")
	genuine := request(environment("production", other.httpURL(), httpSecret(t)), "v2")
	if _, err := newDeliverer(t).Deliver(testContext(t, nil), genuine); err != nil {
		t.Fatal(err)
	}
	copied := trailers(other.commit(t, other.head(t, "main")).Message)[TrailerSignature][0]
	setTag := func(env, tag string) func(string) {
		return func(dir string) {
			p := filepath.Join(dir, env, "kustomization.yaml")
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out := strings.Replace(string(data), "newTag: v1", "newTag: "+tag, 1)
			if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name, author, email, signature string
		change                         func(dir string)
		why                            string
	}{
		{"no signature", "Mallory", "mallory@example.com", "", setTag("production", "v2"), "its author is Mallory <mallory@example.com>"},
		{"Baton's author, no signature", DefaultAuthorName, DefaultAuthorEmail, "", setTag("production", "v2"), "it has 0 Baton-Signature trailers"},
		{"Baton's author, a made-up signature", DefaultAuthorName, DefaultAuthorEmail, strings.Repeat("ab", 32), setTag("production", "v2"), "its Baton-Signature does not verify"},
		{"Baton's author, a signature copied from another Promotion", DefaultAuthorName, DefaultAuthorEmail, copied, setTag("production", "v2"), "its Baton-Signature does not verify"},
		{"another Environment's file", DefaultAuthorName, DefaultAuthorEmail, copied, setTag("staging", "v2"), "it changes staging/kustomization.yaml, outside delivery.git.path production"},
		{"an extra file", DefaultAuthorName, DefaultAuthorEmail, copied, func(dir string) {
			setTag("production", "v2")(dir)
			write(t, filepath.Join(dir, "production", "evil.yaml"), "kind: ClusterRoleBinding\n")
		}, "it changes 2 files (production/evil.yaml, production/kustomization.yaml)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRemote(t, "production", "staging")
			req := request(environment("production", r.httpURL(), httpSecret(t)), "v2")
			msg := "Promote production to registry.example/web:v2\n\nBaton-Promotion: team-a/" + req.Promotion.Name +
				"\nBaton-Promotion-UID: " + string(req.Promotion.UID) + "\nBaton-Revision: 2\n"
			if tc.signature != "" {
				msg += TrailerSignature + ": " + tc.signature + "\n"
			}
			forged := r.pushAs(t, tc.author, tc.email, "main", "main", msg, tc.change)
			d := newDeliverer(t)
			ctx := testContext(t, nil)
			_, done, derr := d.Delivered(ctx, req)
			_, err := d.Deliver(ctx, req)
			if done {
				t.Errorf("Delivered counts the forged commit %s", forged)
			}
			for _, err := range []error{derr, err} {
				expectStalled(t, err, batonv1alpha1.ForeignCommitReason, "commit "+short(forged)+" carries this Promotion's Baton-Promotion-UID trailer, but Baton did not make it: "+tc.why)
			}
			if r.head(t, "main") != forged {
				t.Errorf("Baton pushed on top of the forged commit: main is %s, was %s", r.head(t, "main"), forged)
			}
		})
	}
}

// TestForgedCommitDoesNotHideBatonsOwn: a forged commit with the UID pushed
// on top of Baton's commit does not make Baton stall or commit again: its
// own, signed commit is still found.
func TestForgedCommitDoesNotHideBatonsOwn(t *testing.T) {
	r := newRemote(t, "production")
	req := request(environment("production", r.httpURL(), httpSecret(t)), "v2")
	d := newDeliverer(t)
	ctx := testContext(t, nil)
	rec, err := d.Deliver(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	forged := r.pushAs(t, "Mallory", "mallory@example.com", "main", "main",
		"Later\n\nBaton-Promotion-UID: "+string(req.Promotion.UID)+"\n", func(dir string) { write(t, filepath.Join(dir, "README.md"), "later\n") })
	again, done, err := d.Delivered(ctx, req)
	if err != nil || !done || again.Commit != rec.Commit {
		t.Fatalf("Delivered = %+v, %v, %v; want Baton's own %s", again, done, err, rec.Commit)
	}
	if r.head(t, "main") != forged {
		t.Errorf("main moved")
	}
}

// TestPushBranchIsBuiltOnTheBranch: someone who may push to the
// pushBranch pre-seeds it with a commit of their own. Baton never builds
// on it (its commit would carry the seed into the pull request under
// Baton's name): it stalls with PushBranchDiverged and pushes nothing.
// Once the pushBranch is merged, Baton's commit sits directly on the
// branch.
func TestPushBranchIsBuiltOnTheBranch(t *testing.T) {
	r := newRemote(t, "production")
	seed := r.pushAs(t, "Mallory", "mallory@example.com", "main", "baton/production", "Seed", func(dir string) {
		write(t, filepath.Join(dir, "production", "evil.yaml"), "kind: ClusterRoleBinding\n")
	})
	main := r.head(t, "main")
	e := environment("production", r.httpURL(), httpSecret(t))
	e.Spec.Delivery.Git.PushBranch = "baton/production"
	d := newDeliverer(t)
	ctx := testContext(t, nil)
	_, err := d.Deliver(ctx, request(e, "v2"))
	expectStalled(t, err, batonv1alpha1.PushBranchDivergedReason, `delivery.git.pushBranch "baton/production" (at `+short(seed)+`) holds commits that are not on delivery.git.branch "main"`)
	if r.head(t, "baton/production") != seed || r.head(t, "main") != main {
		t.Fatalf("refs moved: %v", r.refs(t))
	}

	// The seed is merged: the pushBranch is behind main now, and Baton's
	// commit is built on main.
	merged := mergeInto(t, r, "main", seed)
	rec, err := d.Deliver(ctx, request(e, "v2"))
	if !isWaiting(err) {
		t.Fatalf("Deliver = %v, want AwaitingMerge", err)
	}
	if parents := r.commit(t, plumbing.NewHash(rec.Commit)).ParentHashes; len(parents) != 1 || parents[0] != merged {
		t.Errorf("Baton's commit has parents %v, want main's head %s", parents, merged)
	}
}

// recorder is a plain-HTTP server that counts what reaches it.
type recorder struct {
	*httptest.Server
	requests, withAuth atomic.Int64
}

func newRecorder(t *testing.T, h http.HandlerFunc) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.requests.Add(1)
		if r.Header.Get("Authorization") != "" {
			rec.withAuth.Add(1)
		}
		h(w, r)
	}))
	t.Cleanup(rec.Close)
	return rec
}

// TestNoCredentialsOverPlainHTTP: with the manager's default policy, a
// Secret's credentials are never sent to an http:// URL, not even once.
func TestNoCredentialsOverPlainHTTP(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
	e := environment("production", srv.URL+"/config.git", httpSecret(t))
	d := New(env.Client, t.TempDir(), testKey) // the default Network
	_, err := d.Deliver(testContext(t, nil), request(e, "v2"))
	expectStalled(t, err, batonv1alpha1.InsecureTransportReason, "delivery.git.url "+srv.URL+"/config.git is plain http://", "use https:// or ssh://")
	if n := srv.requests.Load(); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
}

// TestHostOutsideTheAllowList: with --allowed-git-hosts set, a URL naming
// another host is refused before any connection, anonymous or not.
func TestHostOutsideTheAllowList(t *testing.T) {
	srv := newRecorder(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) })
	for _, ref := range []*batonv1alpha1.LocalObjectReference{nil, httpSecret(t)} {
		e := environment("production", srv.URL+"/config.git", ref)
		d := newDeliverer(t)
		d.Network.AllowedHosts = []string{"git.example.com", ".corp.example"}
		_, err := d.Deliver(testContext(t, nil), request(e, "v2"))
		expectStalled(t, err, batonv1alpha1.HostNotAllowedReason, `delivery.git.url names host "127.0.0.1", which is not in the manager's --allowed-git-hosts (git.example.com,.corp.example)`)
	}
	if n := srv.requests.Load(); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
}

// TestHugeErrorBodyIsCapped: a Git server that answers an error with an
// endless body costs the manager a few kilobytes, not its memory.
func TestHugeErrorBodyIsCapped(t *testing.T) {
	const huge = 512 << 20
	var sent atomic.Int64
	srv := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		chunk := []byte(strings.Repeat("x", 64<<10))
		for sent.Load() < huge && r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			sent.Add(int64(len(chunk)))
		}
	})
	e := environment("production", srv.URL+"/config.git", nil)
	d := newDeliverer(t)
	d.Timeout = 20 * time.Second
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := d.Deliver(testContext(t, nil), request(e, "v2"))
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("Deliver succeeded against a server that only answers 500")
	}
	if msg := err.Error(); len(msg) > 2*batongit.MaxErrorBody {
		t.Errorf("the error is %d bytes long", len(msg))
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 64<<20 {
		t.Errorf("Deliver allocated %d MiB for one error answer", grown>>20)
	}
	if s := sent.Load(); s >= huge {
		t.Errorf("the whole body (%d bytes) was read", s)
	}
}

// TestTypedSecretsNeedNoLabel: Secrets of the Kubernetes types for
// credentials are accepted without the label, each with its own keys.
func TestTypedSecretsNeedNoLabel(t *testing.T) {
	r := newRemote(t, "production")
	basic := typedSecret(t, corev1.SecretTypeBasicAuth, false, map[string]string{corev1.BasicAuthUsernameKey: gitUser, corev1.BasicAuthPasswordKey: gitPassword})
	sshAuth := typedSecret(t, corev1.SecretTypeSSHAuth, false, map[string]string{corev1.SSHAuthPrivateKey: string(clientKey), batongit.KnownHostsKey: knownHostsLine(hostKey)})
	for i, e := range []*batonv1alpha1.Environment{
		environment("production", r.httpURL(), basic),
		environment("production", r.sshURL(), sshAuth),
	} {
		if _, err := newDeliverer(t).Deliver(testContext(t, nil), request(e, fmt.Sprintf("v%d", i+2))); err != nil {
			t.Errorf("Deliver with %s: %v", e.Spec.Delivery.Git.URL, err)
		}
	}
	if n := len(r.log(t, "main")); n != 3 {
		t.Errorf("main has %d commits, want the initial one and two deliveries", n)
	}
}
