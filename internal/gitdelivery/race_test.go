package gitdelivery

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/object"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/baton-dev/baton/internal/delivery"
)

// TestRaceWithExternalCommitters: 20 external committers push to the same
// branch while 5 Promotions deliver. Every Promotion lands exactly once, no
// external commit is lost, and no update of the branch is a force push.
func TestRaceWithExternalCommitters(t *testing.T) {
	const committers, commitsEach, promotions = 20, 2, 5
	var envs []string
	for i := range promotions {
		envs = append(envs, fmt.Sprintf("env%d", i))
	}
	r := newRemote(t, envs...)
	updates := filepath.Join(t.TempDir(), "updates.log")
	r.hook(t, "update", fmt.Sprintf("#!/bin/sh\necho \"$2 $3\" >> %s\n", updates))
	ctx, cancel := context.WithTimeout(testContext(t, nil), 3*time.Minute)
	defer cancel()

	var wg sync.WaitGroup
	errs := make(chan error, committers+promotions)
	for g := range committers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := externalCommits(ctx, t.TempDir(), r.httpURL(), g, commitsEach); err != nil {
				errs <- fmt.Errorf("committer %d: %w", g, err)
			}
		}()
	}
	reqs := make([]delivery.Request, promotions)
	recs := make([]delivery.Record, promotions)
	for i := range promotions {
		reqs[i] = request(environment(envs[i], r.httpURL(), httpSecret(t)), "v2")
		d := newDeliverer(t) // one process each: they race one another too
		d.MaxAttempts = 30
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, err := d.Deliver(ctx, reqs[i])
			if err != nil {
				errs <- fmt.Errorf("promotion %d: %w", i, err)
			}
			recs[i] = rec
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	head := r.head(t, "main")
	for i, req := range reqs {
		if n := r.commitsOf(t, "main", req.Promotion.UID); n != 1 {
			t.Errorf("promotion %d landed %d times, want once", i, n)
		}
		if got := r.file(t, head, envs[i]+"/kustomization.yaml"); !strings.Contains(got, "newTag: v2") {
			t.Errorf("%s at the head lost promotion %d:\n%s", envs[i], i, got)
		}
		if recs[i].Commit == "" {
			t.Errorf("promotion %d has no commit in its record", i)
		}
	}
	for g := range committers {
		for c := range commitsEach {
			name := fmt.Sprintf("external/%d-%d.txt", g, c)
			if _, err := r.commit(t, head).File(name); err != nil {
				t.Errorf("external commit %s is lost: %v", name, err)
			}
		}
	}

	// Every accepted update of main is a descendant of the one before.
	if n, want := expectFastForwards(t, r, updates), committers*commitsEach+promotions; n < want {
		t.Fatalf("%d updates of main were logged, want at least %d", n, want)
	}
}

// externalCommits is another committer: it adds files with go-git, and on a
// rejected push fetches, resets to the new head and commits again.
func externalCommits(ctx context.Context, dir, url string, g, n int) error {
	auth := &githttp.BasicAuth{Username: gitUser, Password: gitPassword}
	repo, err := git.PlainCloneContext(ctx, dir, false, &git.CloneOptions{URL: url, Auth: auth, ReferenceName: "refs/heads/main", SingleBranch: true})
	if err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return err
	}
	for c := range n {
		name := fmt.Sprintf("external/%d-%d.txt", g, c)
		var pushErr error
		for try := 0; ; try++ {
			if try == 100 {
				return fmt.Errorf("gave up on %s: %w", name, pushErr)
			}
			err := repo.FetchContext(ctx, &git.FetchOptions{Auth: auth, RefSpecs: []config.RefSpec{"+refs/heads/main:refs/remotes/origin/main"}})
			if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
				return fmt.Errorf("fetch: %w", err)
			}
			ref, err := repo.Reference("refs/remotes/origin/main", true)
			if err != nil {
				return err
			}
			if err := wt.Reset(&git.ResetOptions{Commit: ref.Hash(), Mode: git.HardReset}); err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Join(dir, "external"), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(name+"\n"), 0o644); err != nil {
				return err
			}
			if _, err := wt.Add(name); err != nil {
				return err
			}
			sig := &object.Signature{Name: fmt.Sprintf("dev%d", g), Email: "dev@example.com", When: time.Now()}
			if _, err := wt.Commit("add "+name, &git.CommitOptions{Author: sig}); err != nil {
				return err
			}
			pushErr = repo.PushContext(ctx, &git.PushOptions{Auth: auth, RefSpecs: []config.RefSpec{"refs/heads/main:refs/heads/main"}})
			if pushErr == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(time.Duration(10+try*5) * time.Millisecond)
		}
	}
	return nil
}
