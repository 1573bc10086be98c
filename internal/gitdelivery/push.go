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

// commit commits the edited files on the local branch. A commit of one
// file has the message it always had; a commit of several names each in a
// Baton-File trailer, which its signature covers.
func (s *session) commit() (plumbing.Hash, error) {
	wt, err := s.repo.Worktree()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("open the worktree: %w", err)
	}
	// SkipStatus: the edits wrote exactly these files, so there is no need
	// for go-git to compute the status of the whole worktree first.
	for _, file := range s.editedFiles {
		if err := wt.AddWithOptions(&git.AddOptions{Path: file, SkipStatus: true}); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("stage %s: %w", file, err)
		}
	}
	blobs, err := s.stagedBlobs()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	env := s.req.Environment
	message := commitMessage(s.req)
	if len(s.editedFiles) > 1 {
		message += fileTrailers(env, s.editedFiles)
	}
	message += fmt.Sprintf("%s: %s\n", TrailerSignature,
		signature(s.signingKey, env.Namespace, env.Name, string(s.req.Promotion.UID), signed(s.editedFiles, blobs)))
	name, email := author(env)
	sig := &object.Signature{Name: name, Email: email, When: time.Now()}
	sha, err := wt.Commit(message, &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit %s: %w", strings.Join(s.editedFiles, ", "), err)
	}
	// The edits touched only editedFiles, now committed: the worktree is sha.
	s.clean.Store(s.key, sha)
	return sha, nil
}

// stagedBlobs are the blobs of the edited files in the index: the content
// the commit's signature covers.
func (s *session) stagedBlobs() (map[string]plumbing.Hash, error) {
	idx, err := s.repo.Storer.Index()
	if err != nil {
		return nil, fmt.Errorf("read the index: %w", err)
	}
	blobs := make(map[string]plumbing.Hash, len(s.editedFiles))
	for _, file := range s.editedFiles {
		e, err := idx.Entry(file)
		if err != nil {
			return nil, fmt.Errorf("find %s in the index: %w", file, err)
		}
		blobs[file] = e.Hash
	}
	return blobs, nil
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
