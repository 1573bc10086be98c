package gitdelivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	batongit "github.com/baton-dev/baton/internal/git"
	"github.com/baton-dev/baton/internal/metrics"
	"github.com/baton-dev/baton/internal/outcome"
)

// maxServerOutput bounds what is kept of the server's messages.
const maxServerOutput = 2048

// commit commits the edited file on the local branch.
func (s *session) commit() (plumbing.Hash, error) {
	wt, err := s.repo.Worktree()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("open the worktree: %w", err)
	}
	// SkipStatus: the edit wrote exactly this file, so there is no need for
	// go-git to compute the status of the whole worktree first.
	if err := wt.AddWithOptions(&git.AddOptions{Path: s.editedFile, SkipStatus: true}); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("stage %s: %w", s.editedFile, err)
	}
	blob, err := s.stagedBlob()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	message := commitMessage(s.req) + fmt.Sprintf("%s: %s\n", TrailerSignature,
		signature(s.signingKey, s.req.Environment.Namespace, s.req.Environment.Name, string(s.req.Promotion.UID), s.editedFile, blob))
	name, email := author(s.req.Environment)
	sig := &object.Signature{Name: name, Email: email, When: time.Now()}
	sha, err := wt.Commit(message, &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit %s: %w", s.editedFile, err)
	}
	// The edit touched only editedFile, now committed: the worktree is sha.
	s.clean.Store(s.key, sha)
	return sha, nil
}

// stagedBlob is the blob of the edited file in the index: the content the
// commit's signature covers.
func (s *session) stagedBlob() (plumbing.Hash, error) {
	idx, err := s.repo.Storer.Index()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read the index: %w", err)
	}
	e, err := idx.Entry(s.editedFile)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("find %s in the index: %w", s.editedFile, err)
	}
	return e.Hash, nil
}

// serverOutput keeps the first bytes the server sends on the side band:
// what its hooks print.
type serverOutput struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (o *serverOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if room := maxServerOutput - o.buf.Len(); room > 0 {
		o.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (o *serverOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var lines []string
	for _, l := range strings.FieldsFunc(o.buf.String(), func(r rune) bool { return r == '\n' || r == '\r' }) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}

// push pushes the local branch to target, never with force. The server's
// messages are kept for the error.
func (s *session) push(ctx context.Context, target string) error {
	defer metrics.TimeGit("push")()
	ctx, cancel := s.timeout(ctx)
	defer cancel()
	out := &serverOutput{}
	err := s.repo.PushContext(ctx, &git.PushOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec(localBranch.String() + ":" + plumbing.NewBranchReferenceName(target).String())},
		Auth:       s.creds.Auth,
		Progress:   out,
	})
	if err == nil || errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	if said := out.String(); said != "" {
		return s.creds.Wrap(err, "push to %s branch %s (the server said: %s)", s.url, target, said)
	}
	return s.creds.Wrap(err, "push to %s branch %s", s.url, target)
}

// moved fetches target again and reports whether its head is no longer
// what the commit was built on: the push lost a race, and can be redone.
func (s *session) moved(ctx context.Context, target string, was plumbing.Hash) (bool, error) {
	now, _, err := s.fetch(ctx, target)
	if err != nil {
		if st := s.creds.Classify(err); st != nil {
			return false, st
		}
		return false, err
	}
	return now != was, nil
}

// rejected turns a push error on a branch that did not move into a Stalled
// error when a person must act, and leaves it transient otherwise.
func (s *session) rejected(err error, target string) error {
	if st := s.creds.Classify(err); st != nil {
		return st
	}
	msg := err.Error() // already redacted
	if strings.Contains(msg, "command error on") || strings.Contains(msg, "the server said") ||
		strings.Contains(msg, "non-fast-forward") {
		return outcome.Stall(batonv1alpha1.PushRejectedReason,
			"%s refused the push to branch %q, and the branch did not move meanwhile, so retrying cannot help: %s. "+
				"Allow Baton's user to push there, or set delivery.git.pushBranch and merge through a pull request", batongit.RedactURLs(s.url), target, msg)
	}
	return err
}
