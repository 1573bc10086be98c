package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	batongit "github.com/baton-dev/baton/internal/git"
	"github.com/baton-dev/baton/internal/outcome"
)

// LsRemote reads the head of branch with the protocol's reference
// advertisement (git ls-remote): no objects are transferred.
func LsRemote(ctx context.Context, repoURL, branch string, creds *batongit.Credentials) (string, error) {
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{repoURL}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{Auth: creds.Auth})
	if err != nil {
		if errors.Is(err, transport.ErrEmptyRemoteRepository) {
			return "", branchNotFound(repoURL, branch)
		}
		if s := creds.Classify(err); s != nil {
			return "", s
		}
		return "", creds.Wrap(err, "list the references of %s", repoURL)
	}
	want := plumbing.NewBranchReferenceName(branch)
	for _, ref := range refs {
		if ref.Name() == want && ref.Type() == plumbing.HashReference {
			return ref.Hash().String(), nil
		}
	}
	return "", branchNotFound(repoURL, branch)
}

func branchNotFound(repoURL, branch string) error {
	return outcome.Stall(batonv1alpha1.BranchNotFoundReason,
		"spec.source.git.branch: %s has no branch %q; fix the branch name, or push it", batongit.RedactURLs(repoURL), branch)
}

// CommitInfo is what Git reports about a commit. Subject and Author are
// whatever the pusher wrote: unauthenticated.
type CommitInfo struct {
	SHA     string
	Subject string
	Author  string
	// When is the committer's time, as Git reports it.
	When time.Time
}

// History is how a new head relates to the last one seen.
type History struct {
	// Head is the new head.
	Head CommitInfo
	// Forward is true when the last head is an ancestor of the new one (or
	// there was no last head).
	Forward bool
	// Rewound is true when the new head is an ancestor of the last one: the
	// branch was moved back. Neither Forward nor Rewound means the history
	// was rewritten (or the last head is no longer known).
	Rewound bool
	// Skipped are the commits after the last head and before the new one,
	// newest first, along the first-parent line (the merges), at most
	// MaxSkipped of them.
	Skipped []CommitInfo
	// MoreSkipped counts the skipped commits left out of Skipped; -1 when
	// the walk stopped before reaching the last head.
	MoreSkipped int
}

// MaxSkipped bounds History.Skipped.
const MaxSkipped = 10

// maxWalk bounds the first-parent walk that lists skipped commits.
const maxWalk = 1000

// Cache keeps one bare repository per (URL, branch) holding that branch's
// history only: no worktree, no tags, no other branches. Fetches after the
// first transfer only the new commits.
type Cache struct {
	// Dir is where the repositories live. An emptyDir is enough: a lost
	// cache is fetched again.
	Dir string
	// Network is the manager's policy for the hosts spec.source.git.url may
	// name.
	Network batongit.Network
	locks   sync.Map
}

func (c *Cache) dir(repoURL, branch string) string {
	sum := sha256.Sum256([]byte(repoURL + "\x00" + branch))
	return filepath.Join(c.Dir, "source-"+hex.EncodeToString(sum[:8]))
}

// Inspect fetches branch (which must now point at head) into the cache and
// says how head relates to last. last may be empty.
func (c *Cache) Inspect(ctx context.Context, repoURL, branch, head, last string, creds *batongit.Credentials) (History, error) {
	dir := c.dir(repoURL, branch)
	mu, _ := c.locks.LoadOrStore(dir, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	repo, err := c.fetch(ctx, dir, repoURL, branch, creds)
	if err != nil {
		return History{}, err
	}
	hc, err := repo.CommitObject(plumbing.NewHash(head))
	if err != nil {
		// The branch moved again after ls-remote; the next read catches up.
		return History{}, fmt.Errorf("commit %s is not on branch %s after the fetch (the branch moved again?): %w", head, branch, err)
	}
	h := History{Head: info(hc), Forward: last == ""}
	if last == "" || last == head {
		h.Forward = true
		return h, nil
	}
	lc, err := repo.CommitObject(plumbing.NewHash(last))
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		// The cache holds all of the branch's history, so a last head that
		// is not in it is not an ancestor: the history was rewritten (or
		// the cache was lost, and Baton cannot tell which way it moved).
		return h, nil
	}
	if err != nil {
		return History{}, fmt.Errorf("read commit %s: %w", last, err)
	}
	if h.Forward, err = lc.IsAncestor(hc); err != nil {
		return History{}, fmt.Errorf("is %s an ancestor of %s: %w", short(last), short(head), err)
	}
	if !h.Forward {
		if h.Rewound, err = hc.IsAncestor(lc); err != nil {
			return History{}, fmt.Errorf("is %s an ancestor of %s: %w", short(head), short(last), err)
		}
		return h, nil
	}
	h.Skipped, h.MoreSkipped = skipped(hc, lc.Hash)
	return h, nil
}

// skipped walks the first parents from head (exclusive) to last
// (exclusive).
func skipped(head *object.Commit, last plumbing.Hash) ([]CommitInfo, int) {
	var out []CommitInfo
	more := 0
	c := head
	for i := 0; i < maxWalk; i++ {
		if c.NumParents() == 0 {
			return out, -1
		}
		p, err := c.Parent(0)
		if err != nil || p.Hash == last {
			if err != nil {
				return out, -1
			}
			return out, more
		}
		if len(out) < MaxSkipped {
			out = append(out, info(p))
		} else {
			more++
		}
		c = p
	}
	return out, -1
}

func (c *Cache) fetch(ctx context.Context, dir, repoURL, branch string, creds *batongit.Credentials) (*git.Repository, error) {
	repo, err := git.PlainOpen(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		if repo, err = git.PlainInit(dir, true); err != nil {
			return nil, fmt.Errorf("create the source cache %s: %w", dir, err)
		}
		if _, err = repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{repoURL}}); err != nil {
			return nil, fmt.Errorf("configure the source cache %s: %w", dir, err)
		}
	}
	ref := plumbing.NewBranchReferenceName(branch)
	err = repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: "origin",
		RemoteURL:  repoURL,
		// Forced: a force-push must be seen, to be reported.
		RefSpecs: []config.RefSpec{config.RefSpec("+" + ref.String() + ":" + ref.String())},
		Auth:     creds.Auth,
		Tags:     git.NoTags,
	})
	if err == nil || errors.Is(err, git.NoErrAlreadyUpToDate) {
		return repo, nil
	}
	if s := creds.Classify(err); s != nil {
		return nil, s
	}
	// A corrupt cache would fail forever; start it again next time.
	_ = os.RemoveAll(dir)
	return nil, creds.Wrap(err, "fetch branch %s of %s", branch, repoURL)
}

func info(c *object.Commit) CommitInfo {
	subject, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
	return CommitInfo{
		SHA:     c.Hash.String(),
		Subject: Sanitize(subject, 200),
		Author:  Sanitize(fmt.Sprintf("%s <%s>", c.Author.Name, c.Author.Email), 200),
		When:    c.Committer.When,
	}
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// Sanitize makes untrusted Git metadata safe to show: one line, no control
// characters, valid UTF-8, at most n runes.
func Sanitize(s string, n int) string {
	var b strings.Builder
	count := 0
	for _, r := range strings.ToValidUTF8(s, "?") {
		if count >= n {
			b.WriteString("…")
			break
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			r = ' '
		}
		b.WriteRune(r)
		count++
	}
	return strings.TrimSpace(b.String())
}
