package gitdelivery

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/delivery"
	batongit "github.com/baton-dev/baton/internal/git"
	"github.com/baton-dev/baton/internal/image"
	"github.com/baton-dev/baton/internal/outcome"
)

func TestOnePromotionIsOneCommit(t *testing.T) {
	for _, transport := range []string{"http", "ssh"} {
		t.Run(transport, func(t *testing.T) {
			r := newRemote(t, "production")
			e := environment("production", r.httpURL(), httpSecret(t))
			if transport == "ssh" {
				e = environment("production", r.sshURL(), sshSecret(t))
			}
			req := request(e, "v2")
			d := newDeliverer(t)
			ctx := testContext(t, nil)
			before := r.head(t, "main")

			rec, done, err := d.Delivered(ctx, req)
			if err != nil || done || rec.Commit != "" {
				t.Fatalf("Delivered before delivering = %+v, %v, %v; want nothing", rec, done, err)
			}
			rec, err = d.Deliver(ctx, req)
			if err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			head := r.head(t, "main")
			if rec.Commit != head.String() {
				t.Fatalf("record commit %s, remote head %s", rec.Commit, head)
			}
			c := r.commit(t, head)
			t.Logf("the commit, as git log -1 prints it:\n%s", c)
			if len(c.ParentHashes) != 1 || c.ParentHashes[0] != before {
				t.Fatalf("the commit's parents are %v, want exactly the old head %s", c.ParentHashes, before)
			}
			if c.Author.Name != DefaultAuthorName || c.Author.Email != DefaultAuthorEmail || c.Committer.Email != DefaultAuthorEmail {
				t.Errorf("author %v committer %v, want Baton <baton@baton.dev>", c.Author, c.Committer)
			}
			if !strings.HasPrefix(c.Message, "Promote production to registry.example/web:v2\n") {
				t.Errorf("subject of %q", c.Message)
			}
			for _, want := range []string{"registry.example/web:v1 -> registry.example/web:v2", "Release v2 after staging soak"} {
				if !strings.Contains(c.Message, want) {
					t.Errorf("message lacks %q:\n%s", want, c.Message)
				}
			}
			got := trailers(c.Message)
			want := map[string][]string{
				TrailerPromotion:    {namespace + "/" + req.Promotion.Name},
				TrailerPromotionUID: {string(req.Promotion.UID)},
				TrailerRevision:     {"2"},
				TrailerPromotedBy:   {"alice"},
				TrailerApprovedBy:   {"bob", "carol"},
			}
			for k, v := range want {
				if !slices.Equal(got[k], v) {
					t.Errorf("trailer %s = %v, want %v", k, got[k], v)
				}
			}
			if _, ok := got[TrailerRollbackOf]; ok {
				t.Errorf("a promotion carries %s", TrailerRollbackOf)
			}
			assertOneLineChange(t, r, before, head, "production/kustomization.yaml", "    newTag: v1", "    newTag: v2")

			// Asked again, it finds its commit and does not commit twice.
			rec2, done, err := d.Delivered(ctx, req)
			if err != nil || !done || rec2.Commit != rec.Commit {
				t.Fatalf("Delivered after delivering = %+v, %v, %v; want %s, true", rec2, done, err, rec.Commit)
			}
			rec3, err := d.Deliver(ctx, req)
			if err != nil || rec3.Commit != rec.Commit || r.head(t, "main") != head {
				t.Fatalf("a second Deliver = %+v, %v and moved main to %s; want the same commit and no new one", rec3, err, r.head(t, "main"))
			}
			if n := r.commitsOf(t, "main", req.Promotion.UID); n != 1 {
				t.Errorf("%d commits carry the Promotion's UID, want 1", n)
			}
		})
	}
}

// assertOneLineChange checks that between two commits exactly one file
// changed, and in it exactly one line, from old to new.
func assertOneLineChange(t *testing.T, r *remote, from, to plumbing.Hash, file, oldLine, newLine string) {
	t.Helper()
	a, err := r.commit(t, from).Tree()
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.commit(t, to).Tree()
	if err != nil {
		t.Fatal(err)
	}
	changes, err := object.DiffTree(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].To.Name != file {
		t.Fatalf("changed files %v, want only %s", changes, file)
	}
	before := strings.Split(r.file(t, from, file), "\n")
	after := strings.Split(r.file(t, to, file), "\n")
	if len(before) != len(after) {
		t.Fatalf("%s went from %d to %d lines", file, len(before), len(after))
	}
	var diff []string
	for i := range before {
		if before[i] != after[i] {
			diff = append(diff, before[i]+" => "+after[i])
		}
	}
	if want := []string{oldLine + " => " + newLine}; !slices.Equal(diff, want) {
		t.Fatalf("changed lines %q, want %q", diff, want)
	}
}

func TestRollbackIsAForwardCommit(t *testing.T) {
	r := newRemote(t, "production")
	e := environment("production", r.httpURL(), httpSecret(t))
	d := newDeliverer(t)
	ctx := testContext(t, nil)
	if _, err := d.Deliver(ctx, request(e, "v2")); err != nil {
		t.Fatal(err)
	}
	v2 := r.head(t, "main")
	rb := request(e, "v1")
	rb.Promotion.Spec.Rollback = &batonv1alpha1.RollbackSpec{ToRevision: 1}
	rb.Promotion.Status.PreviousImage = "registry.example/web:v2"
	rec, err := d.Deliver(ctx, rb)
	if err != nil {
		t.Fatal(err)
	}
	c := r.commit(t, plumbing.NewHash(rec.Commit))
	if len(c.ParentHashes) != 1 || c.ParentHashes[0] != v2 {
		t.Fatalf("the rollback's parents are %v, want %s: a forward commit", c.ParentHashes, v2)
	}
	if got := trailers(c.Message)[TrailerRollbackOf]; !slices.Equal(got, []string{"1"}) {
		t.Errorf("%s = %v, want [1]", TrailerRollbackOf, got)
	}
	if !strings.HasPrefix(c.Message, "Roll back production to registry.example/web:v1") {
		t.Errorf("subject of %q", c.Message)
	}
	assertOneLineChange(t, r, v2, c.Hash, "production/kustomization.yaml", "    newTag: v2", "    newTag: v1")
}

func TestAlreadyAtImageMakesNoCommit(t *testing.T) {
	r := newRemote(t, "production")
	e := environment("production", r.httpURL(), httpSecret(t))
	d := newDeliverer(t)
	ctx := testContext(t, nil)
	before := r.head(t, "main")
	req := request(e, "v1") // the fixture's tag
	rec, done, err := d.Delivered(ctx, req)
	if err != nil || !done || rec.Commit != "" {
		t.Fatalf("Delivered = %+v, %v, %v; want delivered with no commit", rec, done, err)
	}
	if rec, err := d.Deliver(ctx, req); err != nil || rec.Commit != "" {
		t.Fatalf("Deliver = %+v, %v; want no commit", rec, err)
	}
	if r.head(t, "main") != before {
		t.Fatal("main moved")
	}
}

func TestHookRejectsPush(t *testing.T) {
	r := newRemote(t, "production")
	r.hook(t, "pre-receive", "#!/bin/sh\necho 'GL-HOOK-ERR: main is protected, open a merge request' >&2\nexit 1\n")
	e := environment("production", r.httpURL(), httpSecret(t))
	before := r.head(t, "main")
	_, err := newDeliverer(t).Deliver(testContext(t, nil), request(e, "v2"))
	de, ok := outcome.AsStalled(err)
	if !ok || de.Reason != batonv1alpha1.PushRejectedReason {
		t.Fatalf("Deliver error %v, want Stalled %s", err, batonv1alpha1.PushRejectedReason)
	}
	for _, want := range []string{"main is protected, open a merge request", "delivery.git.pushBranch"} {
		if !strings.Contains(de.Message, want) {
			t.Errorf("message %q lacks %q", de.Message, want)
		}
	}
	if strings.Contains(de.Message, gitPassword) {
		t.Errorf("message carries the password: %s", de.Message)
	}
	if r.head(t, "main") != before {
		t.Error("main moved")
	}
}

// TestBadInput: every input a person must fix gets its own reason and a
// message that says what to do, and the repository stays untouched.
func TestBadInput(t *testing.T) {
	r := newRemote(t, "production")
	otherKey, err := newSSHKey()
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := ssh.ParsePrivateKey(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	strangerPub := stranger.PublicKey()
	cases := []struct {
		name   string
		mutate func(e *batonv1alpha1.Environment)
		reason string
		says   []string
	}{
		{"wrong password", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery.Git.SecretRef = secret(t, map[string]string{batongit.UsernameKey: gitUser, batongit.PasswordKey: "wrong-" + gitPassword})
		}, batonv1alpha1.AuthenticationFailedReason, []string{"refused the credentials in Secret team-a/", "check that they are current"}},
		{"no credentials", func(e *batonv1alpha1.Environment) { e.Spec.Delivery.Git.SecretRef = nil },
			batonv1alpha1.AuthenticationFailedReason, []string{"refused anonymous access", "set delivery.git.secretRef"}},
		{"Secret missing", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery.Git.SecretRef = &batonv1alpha1.LocalObjectReference{Name: "nope"}
		}, batonv1alpha1.GitCredentialsInvalidReason, []string{`Secret "nope" does not exist in namespace team-a`}},
		{"Secret without password", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery.Git.SecretRef = secret(t, map[string]string{batongit.UsernameKey: gitUser})
		}, batonv1alpha1.GitCredentialsInvalidReason, []string{"has neither password nor token"}},
		{"ServiceAccount token Secret", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery.Git.SecretRef = typedSecret(t, corev1.SecretTypeServiceAccountToken, true,
				map[string]string{batongit.UsernameKey: gitUser, batongit.PasswordKey: gitPassword})
		}, batonv1alpha1.GitCredentialsInvalidReason, []string{"is a ServiceAccount token", "never sends one to a Git server"}},
		{"unlabelled Opaque Secret", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery.Git.SecretRef = typedSecret(t, corev1.SecretTypeOpaque, false,
				map[string]string{batongit.UsernameKey: gitUser, batongit.PasswordKey: gitPassword})
		}, batonv1alpha1.GitCredentialsInvalidReason, []string{"(type Opaque) lacks the label promotion.baton.dev/credentials=true"}},
		{"credentials over plain http to a host not allowed it", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery.Git.URL = strings.Replace(r.httpURL(), "127.0.0.1", "localhost", 1)
		}, batonv1alpha1.InsecureTransportReason, []string{"delivery.git.url http://localhost:", "never sends the credentials of delivery.git.secretRef"}},
		{"unsupported scheme", func(e *batonv1alpha1.Environment) { e.Spec.Delivery.Git.URL = "file://" + r.bare },
			batonv1alpha1.RepositoryNotFoundReason, []string{`scheme "file" is not supported`}},
		{"password in the URL", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery.Git.URL = strings.Replace(r.httpURL(), "://", "://"+gitUser+":"+gitPassword+"@", 1)
		}, batonv1alpha1.GitCredentialsInvalidReason, []string{"delivery.git.url carries a password"}},
		{"branch missing", func(e *batonv1alpha1.Environment) { e.Spec.Delivery.Git.Branch = "release" },
			batonv1alpha1.RepositoryNotFoundReason, []string{`delivery.git.branch "release" does not exist`}},
		{"repository missing", func(e *batonv1alpha1.Environment) { e.Spec.Delivery.Git.URL = server.HTTPAddress() + "/nope.git" },
			batonv1alpha1.RepositoryNotFoundReason, []string{"nope.git"}},
		{"edited file missing", func(e *batonv1alpha1.Environment) { e.Spec.Delivery.Git.Path = "staging" },
			batonv1alpha1.ManifestInvalidReason, []string{"delivery.git.path", "staging"}},
		{"field missing", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery.Git.Edit = &batonv1alpha1.ManifestEdit{YAML: &batonv1alpha1.YAMLFieldEdit{File: "deployment.yaml", Field: "spec.template.spec.containers[name=web].image"}}
		}, batonv1alpha1.ManifestInvalidReason, []string{"delivery.git.edit.yaml.field"}},
		{"edit names .git", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery.Git.Path = ".git"
		}, batonv1alpha1.ManifestInvalidReason, []string{"may not name .git"}},
		{"SSH without a Secret", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery.Git.URL, e.Spec.Delivery.Git.SecretRef = r.sshURL(), nil
		}, batonv1alpha1.GitCredentialsInvalidReason, []string{"SSH URL", "identity and known_hosts"}},
		{"SSH without known_hosts", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery.Git.URL = r.sshURL()
			e.Spec.Delivery.Git.SecretRef = secret(t, map[string]string{batongit.IdentityKey: string(clientKey)})
		}, batonv1alpha1.GitCredentialsInvalidReason, []string{"has no known_hosts", "never trusts an SSH host key"}},
		{"SSH key that does not parse", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery.Git.URL = r.sshURL()
			e.Spec.Delivery.Git.SecretRef = secret(t, map[string]string{batongit.IdentityKey: "not a key", batongit.KnownHostsKey: knownHostsLine(hostKey)})
		}, batonv1alpha1.GitCredentialsInvalidReason, []string{"identity is not an unencrypted SSH private key"}},
		{"known_hosts that does not parse", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery.Git.URL = r.sshURL()
			e.Spec.Delivery.Git.SecretRef = secret(t, map[string]string{batongit.IdentityKey: string(clientKey), batongit.KnownHostsKey: "127.0.0.1 garbage\n"})
		}, batonv1alpha1.GitCredentialsInvalidReason, []string{"known_hosts: not in known_hosts format"}},
		{"unknown SSH host key", func(e *batonv1alpha1.Environment) {
			e.Spec.Delivery.Git.URL = r.sshURL()
			e.Spec.Delivery.Git.SecretRef = secret(t, map[string]string{batongit.IdentityKey: string(clientKey), batongit.KnownHostsKey: knownHostsLine(strangerPub)})
		}, batonv1alpha1.HostKeyUnknownReason, []string{"SSH host key of ssh://", "is not in known_hosts"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := r.head(t, "main")
			e := environment("production", r.httpURL(), httpSecret(t))
			tc.mutate(e)
			req := request(e, "v2")
			d := newDeliverer(t)
			ctx := testContext(t, nil)
			_, _, derr := d.Delivered(ctx, req)
			_, err := d.Deliver(ctx, req)
			for _, err := range []error{derr, err} {
				de, ok := outcome.AsStalled(err)
				if !ok {
					t.Fatalf("error %v, want Stalled %s", err, tc.reason)
				}
				if de.Reason != tc.reason {
					t.Errorf("reason %s (%s), want %s", de.Reason, de.Message, tc.reason)
				}
				for _, s := range tc.says {
					if !strings.Contains(de.Message, s) {
						t.Errorf("message %q lacks %q", de.Message, s)
					}
				}
				if strings.Contains(de.Message, gitPassword) || strings.Contains(de.Message, "PRIVATE KEY") {
					t.Errorf("message carries a credential: %s", de.Message)
				}
			}
			if r.head(t, "main") != before {
				t.Errorf("main moved from %s to %s", before, r.head(t, "main"))
			}
		})
	}
}

// TestCrashBetweenPushAndStatus: a manager killed after its push, before the
// engine wrote the commit to status, restarts with an empty cache. The new
// process finds the commit by its trailer, even with other commits on top,
// and does not commit again.
func TestCrashBetweenPushAndStatus(t *testing.T) {
	r := newRemote(t, "production", "staging")
	e := environment("production", r.httpURL(), httpSecret(t))
	req := request(e, "v2")
	ctx := testContext(t, nil)
	rec, err := newDeliverer(t).Deliver(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// Someone else commits on top before the restart.
	other := request(environment("staging", r.httpURL(), httpSecret(t)), "v3")
	if _, err := newDeliverer(t).Deliver(ctx, other); err != nil {
		t.Fatal(err)
	}
	head := r.head(t, "main")

	restarted := newDeliverer(t)
	found, done, err := restarted.Delivered(ctx, req)
	if err != nil || !done || found.Commit != rec.Commit {
		t.Fatalf("after the restart Delivered = %+v, %v, %v; want %s, true", found, done, err, rec.Commit)
	}
	again, err := restarted.Deliver(ctx, req)
	if err != nil || again.Commit != rec.Commit {
		t.Fatalf("after the restart Deliver = %+v, %v; want %s", again, err, rec.Commit)
	}
	if r.head(t, "main") != head {
		t.Error("the restarted Deliverer committed again")
	}
	if n := r.commitsOf(t, "main", req.Promotion.UID); n != 1 {
		t.Errorf("%d commits carry the Promotion's UID, want exactly 1", n)
	}
}

func TestCorruptCloneIsClonedAgain(t *testing.T) {
	r := newRemote(t, "production")
	e := environment("production", r.httpURL(), httpSecret(t))
	d := newDeliverer(t)
	ctx := testContext(t, nil)
	if _, err := d.Deliver(ctx, request(e, "v2")); err != nil {
		t.Fatal(err)
	}
	// Break every object file of the cached clone.
	broken := 0
	_ = filepath.Walk(d.CacheDir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && strings.Contains(p, string(filepath.Separator)+"objects"+string(filepath.Separator)) {
			broken++
			return os.WriteFile(p, []byte("garbage"), 0o600)
		}
		return nil
	})
	if broken == 0 {
		t.Fatal("found no object files to corrupt in the cache")
	}
	req := request(e, "v3")
	rec, err := d.Deliver(ctx, req)
	if err != nil {
		t.Fatalf("Deliver on a corrupt clone: %v", err)
	}
	if rec.Commit != r.head(t, "main").String() || r.commitsOf(t, "main", req.Promotion.UID) != 1 {
		t.Fatalf("record %s, head %s", rec.Commit, r.head(t, "main"))
	}
	if got := r.file(t, r.head(t, "main"), "production/kustomization.yaml"); !strings.Contains(got, "newTag: v3") {
		t.Errorf("kustomization after the re-clone:\n%s", got)
	}
}

func TestPushBranchWaitsForMerge(t *testing.T) {
	r := newRemote(t, "production")
	e := environment("production", r.httpURL(), httpSecret(t))
	e.Spec.Delivery.Git.PushBranch = "baton/production"
	req := request(e, "v2")
	d := newDeliverer(t)
	ctx := testContext(t, nil)
	main := r.head(t, "main")

	waiting, err := d.Deliver(ctx, req)
	w, ok := outcome.AsWaiting(err)
	if !ok || w.Reason != batonv1alpha1.AwaitingMergeReason || w.RequeueAfter <= 0 {
		t.Fatalf("Deliver = %v, want Waiting %s", err, batonv1alpha1.AwaitingMergeReason)
	}
	pushed := r.head(t, "baton/production")
	if pushed.IsZero() || waiting.Commit != pushed.String() || r.head(t, "main") != main {
		t.Fatalf("pushed %s, record %s, main %s (was %s)", pushed, waiting.Commit, r.head(t, "main"), main)
	}
	if !strings.Contains(w.Message, `merged into "main"`) {
		t.Errorf("message %q", w.Message)
	}
	// Waiting does not commit again.
	if rec, done, err := d.Delivered(ctx, req); err != nil || done || rec.Commit != pushed.String() {
		t.Fatalf("Delivered while waiting = %+v, %v, %v", rec, done, err)
	}
	if again, err := d.Deliver(ctx, req); !isWaiting(err) || again.Commit != pushed.String() || r.head(t, "baton/production") != pushed {
		t.Fatalf("Deliver while waiting = %v, push branch %s (was %s)", err, r.head(t, "baton/production"), pushed)
	}

	// The forge merges the pull request with a merge commit.
	merge := mergeInto(t, r, "main", pushed)
	rec, done, err := d.Delivered(ctx, req)
	if err != nil || !done || rec.Commit != pushed.String() {
		t.Fatalf("Delivered after the merge = %+v, %v, %v; want %s, true", rec, done, err, pushed)
	}
	if rec, err := d.Deliver(ctx, req); err != nil || rec.Commit != pushed.String() || r.head(t, "main") != merge {
		t.Fatalf("Deliver after the merge = %+v, %v", rec, err)
	}
}

func isWaiting(err error) bool { _, ok := outcome.AsWaiting(err); return ok }

// mergeInto writes a merge commit of sha into branch on the server, as a
// forge does when it merges a pull request.
func mergeInto(t *testing.T, r *remote, branch string, sha plumbing.Hash) plumbing.Hash {
	t.Helper()
	repo := r.repo(t)
	base := r.head(t, branch)
	src := r.commit(t, sha)
	sig := object.Signature{Name: "Forge", Email: "forge@example.com", When: src.Committer.When}
	c := &object.Commit{Author: sig, Committer: sig, Message: "Merge pull request #1\n",
		TreeHash: src.TreeHash, ParentHashes: []plumbing.Hash{base, sha}}
	obj := repo.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		t.Fatal(err)
	}
	h, err := repo.Storer.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName(branch), h)); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestSecretsNeverShow runs deliveries that succeed and that fail, over HTTP
// and SSH, and looks for the credentials in every log line, error,
// record and commit message.
func TestSecretsNeverShow(t *testing.T) {
	r := newRemote(t, "production", "staging")
	r.hook(t, "update", "#!/bin/sh\ncase \"$1\" in refs/heads/blocked) echo \"denied for $1\" >&2; exit 1;; esac\n")
	sink := &logSink{}
	ctx := testContext(t, sink)
	token := "ghp_T0kenValue0123456789abcdef"
	var texts []string
	collect := func(rec delivery.Record, err error) {
		texts = append(texts, rec.Commit, rec.Patch)
		if err != nil {
			texts = append(texts, err.Error())
			for u := errors.Unwrap(err); u != nil; u = errors.Unwrap(u) {
				texts = append(texts, u.Error())
			}
		}
	}
	run := func(e *batonv1alpha1.Environment, tag string) {
		d := newDeliverer(t)
		req := request(e, tag)
		rec, _, err := d.Delivered(ctx, req)
		collect(rec, err)
		collect(d.Deliver(ctx, req))
	}
	run(environment("production", r.httpURL(), httpSecret(t)), "v2")
	run(environment("staging", r.sshURL(), sshSecret(t)), "v2")
	wrong := environment("production", r.httpURL(), secret(t, map[string]string{batongit.PasswordKey: gitPassword + "-old"}))
	run(wrong, "v3")
	tokenOnly := environment("production", r.httpURL(), secret(t, map[string]string{batongit.TokenKey: token}))
	run(tokenOnly, "v3")
	blocked := environment("production", r.httpURL(), httpSecret(t))
	blocked.Spec.Delivery.Git.PushBranch = "blocked"
	run(blocked, "v4")
	userInURL := environment("production", strings.Replace(r.httpURL(), "://", "://"+gitUser+":"+token+"@", 1), nil)
	run(userInURL, "v4")

	for _, c := range r.log(t, "main") {
		texts = append(texts, c.Message, c.Author.String(), c.Committer.String())
	}
	texts = append(texts, sink.all()...)
	if len(sink.all()) == 0 {
		t.Fatal("no log lines were captured; the scan would prove nothing")
	}
	keyLines := strings.Split(strings.TrimSpace(string(clientKey)), "\n")
	secrets := append([]string{gitPassword, token}, keyLines[1:len(keyLines)-1]...)
	for _, text := range texts {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("a secret shows in %q", text)
			}
		}
	}
}

// pinDigest in Git delivery: the engine hands over the reference pinned to
// the digest the Promotion froze (a tag resolved by the registry included),
// and the commit writes kustomize's digest instead of the tag.
func TestPinDigestCommitsTheDigest(t *testing.T) {
	const digest = "sha256:731eccb23f9192491bf92d8df8f831b2dcdfd688e51080c9af23ea925e1b9dd4"
	r := newRemote(t, "production")
	e := environment("production", r.httpURL(), httpSecret(t))
	e.Spec.Delivery.PinDigest = true
	req := request(e, "v2")
	req.Image = image.Pin(req.Image, digest) // what promote's deliveredRef gives
	if req.Image != "registry.example/web@"+digest {
		t.Fatalf("pinned reference %q", req.Image)
	}
	d := newDeliverer(t)
	ctx := testContext(t, nil)
	before := r.head(t, "main")
	if _, err := d.Deliver(ctx, req); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	assertOneLineChange(t, r, before, r.head(t, "main"), "production/kustomization.yaml", "    newTag: v1", "    digest: "+digest)
	if rec, done, err := d.Delivered(ctx, req); err != nil || !done {
		t.Fatalf("Delivered after the push = %+v, %v, %v; want delivered", rec, done, err)
	}
}
