package gitdelivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"

	batongit "github.com/baton-dev/baton/internal/git"
	"github.com/baton-dev/baton/internal/metrics"
)

const (
	remoteName = "origin"
	// localBranch is the branch Baton commits on in its clone.
	localBranch = plumbing.ReferenceName("refs/heads/baton")
)

// cacheKey names the clone of one (URL, branch, Secret) in the cache
// directory.
func cacheKey(rawURL, branch, pushBranch, credentialsID string) string {
	sum := sha256.Sum256([]byte(rawURL + "\x00" + branch + "\x00" + pushBranch + "\x00" + credentialsID))
	return hex.EncodeToString(sum[:12])
}

// clone is one cached working clone. Its Git directory and its worktree are
// separate directories, so that an edit confined to the worktree can never
// reach the repository's own files.
type clone struct {
	dir     string // holds git/, work/ and known_hosts
	url     string
	repo    *git.Repository
	creds   *batongit.Credentials
	timeout func(context.Context) (context.Context, context.CancelFunc)
	depth   int
	// forget is called when the clone is thrown away, so that nothing
	// remembered about its worktree outlives it.
	forget func()
}

func (c *clone) gitDir() string  { return filepath.Join(c.dir, "git") }
func (c *clone) workDir() string { return filepath.Join(c.dir, "work") }

// open opens the clone, or makes an empty one with origin set when there is
// none or it cannot be opened.
func (c *clone) open() error {
	if repo, err := c.openExisting(); err == nil {
		c.repo = repo
		return nil
	}
	return c.reinit()
}

func (c *clone) openExisting() (*git.Repository, error) {
	storage := filesystem.NewStorage(osfs.New(c.gitDir()), cache.NewObjectLRUDefault())
	repo, err := git.Open(storage, osfs.New(c.workDir()))
	if err != nil {
		return nil, err
	}
	remote, err := repo.Remote(remoteName)
	if err != nil {
		return nil, err
	}
	if urls := remote.Config().URLs; len(urls) != 1 || urls[0] != c.url {
		return nil, fmt.Errorf("the cached clone has remote %v, want %s", urls, c.url)
	}
	return repo, nil
}

// reinit throws the clone away and starts an empty one; the next fetch is
// a fresh shallow clone.
func (c *clone) reinit() error {
	if c.forget != nil {
		c.forget()
	}
	if err := os.RemoveAll(c.gitDir()); err != nil {
		return fmt.Errorf("remove the cached clone: %w", err)
	}
	if err := os.RemoveAll(c.workDir()); err != nil {
		return fmt.Errorf("remove the cached clone: %w", err)
	}
	for _, d := range []string{c.gitDir(), c.workDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("create the cached clone: %w", err)
		}
	}
	storage := filesystem.NewStorage(osfs.New(c.gitDir()), cache.NewObjectLRUDefault())
	repo, err := git.InitWithOptions(storage, osfs.New(c.workDir()), git.InitOptions{DefaultBranch: localBranch})
	if err != nil {
		return fmt.Errorf("initialise the cached clone: %w", err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: remoteName, URLs: []string{c.url}}); err != nil {
		return fmt.Errorf("initialise the cached clone: %w", err)
	}
	c.repo = repo
	return nil
}

func trackingRef(branch string) plumbing.ReferenceName {
	return plumbing.NewRemoteReferenceName(remoteName, branch)
}

// fetch brings one remote branch up to date: a shallow fetch the first
// time, incremental afterwards. It reports whether the branch exists; a
// branch that vanished from the remote loses its tracking ref.
func (c *clone) fetch(ctx context.Context, branch string) (plumbing.Hash, bool, error) {
	ref := trackingRef(branch)
	opts := &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec("+" + plumbing.NewBranchReferenceName(branch).String() + ":" + ref.String())},
		Auth:       c.creds.Auth,
		Tags:       git.NoTags,
	}
	if _, err := c.repo.Reference(ref, true); err != nil {
		opts.Depth = c.depth
	}
	defer metrics.TimeGit("fetch")()
	ctx, cancel := c.timeout(ctx)
	defer cancel()
	err := c.repo.FetchContext(ctx, opts)
	var noMatch git.NoMatchingRefSpecError
	switch {
	case errors.As(err, &noMatch):
		_ = c.repo.Storer.RemoveReference(ref)
		return plumbing.ZeroHash, false, nil
	case err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate):
		return plumbing.ZeroHash, false, c.creds.Wrap(err, "fetch branch %s from %s", branch, c.url)
	}
	r, err := c.repo.Reference(ref, true)
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("read %s after fetch: %w", ref, err)
	}
	return r.Hash(), true, nil
}

// reset makes the worktree exactly the tree of base, on the local branch,
// without untracked files. It also proves the clone readable: a corrupt
// object fails here.
func (c *clone) reset(base plumbing.Hash) error {
	if err := c.repo.Storer.SetReference(plumbing.NewHashReference(localBranch, base)); err != nil {
		return fmt.Errorf("point %s at %s: %w", localBranch, base, err)
	}
	if err := c.repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, localBranch)); err != nil {
		return fmt.Errorf("point HEAD at %s: %w", localBranch, err)
	}
	wt, err := c.repo.Worktree()
	if err != nil {
		return fmt.Errorf("open the worktree: %w", err)
	}
	if err := wt.Reset(&git.ResetOptions{Commit: base, Mode: git.HardReset}); err != nil {
		return fmt.Errorf("reset the worktree to %s: %w", base, err)
	}
	if err := wt.Clean(&git.CleanOptions{Dir: true}); err != nil {
		return fmt.Errorf("clean the worktree: %w", err)
	}
	return nil
}

// match is what findIndexed found: the commit accept took, or else the
// first it refused and why.
type match struct {
	found    *object.Commit
	rejected *object.Commit
	why      error
}

// judge records accept's verdict on commit and reports whether it was
// taken. A commit that cannot be judged (errNotVerifiable) is passed over.
func (m *match) judge(commit *object.Commit, accept func(*object.Commit) error) bool {
	why := accept(commit)
	switch {
	case why == nil:
		m.found = commit
		return true
	case errors.Is(why, errNotVerifiable):
	case m.rejected == nil:
		m.rejected, m.why = commit, why
	}
	return false
}

// isAncestor reports whether a is reachable from b. Outside a shallow
// clone's history it answers false.
func (c *clone) isAncestor(a, b plumbing.Hash) bool {
	if a == b {
		return true
	}
	ca, err := c.repo.CommitObject(a)
	if err != nil {
		return false
	}
	cb, err := c.repo.CommitObject(b)
	if err != nil {
		return false
	}
	ok, err := ca.IsAncestor(cb)
	return err == nil && ok
}

// isCorrupt reports whether an error means the clone's own files are broken,
// as opposed to the network, the server or the credentials.
func isCorrupt(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, plumbing.ErrObjectNotFound) || errors.Is(err, plumbing.ErrReferenceNotFound) ||
		errors.Is(err, git.ErrRepositoryNotExists) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"zlib", "invalid checksum", "malformed", "object not found", "packfile", "unexpected EOF", "bad object", "reference has changed concurrently"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// maxAdvance is the most files advance writes; a larger change is a full
// reset.
const maxAdvance = 256

// advance moves a worktree and index that are exactly the tree of from to
// the tree of to, writing only the files that differ. A retry after
// another committer moved the branch then costs the size of their change,
// not a reset of the whole repository, and the window in which the branch
// can move again before the push is that much shorter. It reports false,
// having changed nothing, when a difference is not a regular file (a
// symlink or a submodule) or there are too many; the caller then resets
// in full.
func (c *clone) advance(from, to plumbing.Hash) (bool, error) {
	fc, err := c.repo.CommitObject(from)
	if err != nil {
		return false, nil
	}
	tc, err := c.repo.CommitObject(to)
	if err != nil {
		return false, nil
	}
	ft, err := fc.Tree()
	if err != nil {
		return false, nil
	}
	tt, err := tc.Tree()
	if err != nil {
		return false, nil
	}
	changes, err := object.DiffTree(ft, tt)
	if err != nil || len(changes) > maxAdvance {
		return false, nil
	}
	regular := func(e object.ChangeEntry) bool {
		return e.Name == "" || e.TreeEntry.Mode == filemode.Regular || e.TreeEntry.Mode == filemode.Executable
	}
	for _, ch := range changes {
		if !regular(ch.From) || !regular(ch.To) || (ch.From.Name != "" && ch.To.Name != "" && ch.From.Name != ch.To.Name) {
			return false, nil
		}
	}
	idx, err := c.repo.Storer.Index()
	if err != nil {
		return false, fmt.Errorf("read the index: %w", err)
	}
	root, err := os.OpenRoot(c.workDir())
	if err != nil {
		return false, fmt.Errorf("open the worktree: %w", err)
	}
	defer root.Close()
	for _, ch := range changes {
		if ch.To.Name == "" {
			if err := root.Remove(ch.From.Name); err != nil && !errors.Is(err, os.ErrNotExist) {
				return false, fmt.Errorf("remove %s: %w", ch.From.Name, err)
			}
			if _, err := idx.Remove(ch.From.Name); err != nil {
				return false, fmt.Errorf("remove %s from the index: %w", ch.From.Name, err)
			}
			continue
		}
		if err := c.writeEntry(root, idx, ch.To); err != nil {
			return false, err
		}
	}
	if err := c.repo.Storer.SetIndex(idx); err != nil {
		return false, fmt.Errorf("write the index: %w", err)
	}
	if err := c.repo.Storer.SetReference(plumbing.NewHashReference(localBranch, to)); err != nil {
		return false, fmt.Errorf("point %s at %s: %w", localBranch, to, err)
	}
	if err := c.repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, localBranch)); err != nil {
		return false, fmt.Errorf("point HEAD at %s: %w", localBranch, err)
	}
	return true, nil
}

// writeEntry writes one regular file of a tree into the worktree, inside
// it, and points its index entry at the blob.
func (c *clone) writeEntry(root *os.Root, idx *index.Index, e object.ChangeEntry) error {
	blob, err := c.repo.BlobObject(e.TreeEntry.Hash)
	if err != nil {
		return fmt.Errorf("read %s: %w", e.Name, err)
	}
	r, err := blob.Reader()
	if err != nil {
		return fmt.Errorf("read %s: %w", e.Name, err)
	}
	content, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		return fmt.Errorf("read %s: %w", e.Name, err)
	}
	perm := os.FileMode(0o644)
	if e.TreeEntry.Mode == filemode.Executable {
		perm = 0o755
	}
	if dir := path.Dir(e.Name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("write %s: %w", e.Name, err)
		}
	}
	if err := root.WriteFile(e.Name, content, perm); err != nil {
		return fmt.Errorf("write %s: %w", e.Name, err)
	}
	entry, err := idx.Entry(e.Name)
	if err != nil {
		entry = idx.Add(e.Name)
	}
	entry.Hash, entry.Mode, entry.Size, entry.ModifiedAt = e.TreeEntry.Hash, e.TreeEntry.Mode, uint32(len(content)), time.Now()
	return nil
}
