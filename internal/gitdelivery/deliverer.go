package gitdelivery

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/delivery"
	batongit "github.com/baton-dev/baton/internal/git"
	"github.com/baton-dev/baton/internal/manifest"
	"github.com/baton-dev/baton/internal/outcome"
)

// Defaults of the Deliverer's tunables.
const (
	// DefaultTimeout bounds each fetch and each push.
	DefaultTimeout = 60 * time.Second
	// DefaultMaxAttempts bounds how often a push that lost a race with
	// another committer is redone on the new remote head.
	DefaultMaxAttempts = 10
	// DefaultSearchDepth is how many commits back from the branch head
	// Delivered looks for a Promotion's commit, and the depth of the first,
	// shallow fetch.
	DefaultSearchDepth = 200
	// DefaultMergePoll is how often a Promotion waiting for its pushBranch to
	// be merged looks again.
	DefaultMergePoll = 30 * time.Second
)

// Deliverer delivers by committing the image to delivery.git of the
// Environment: each Promotion exactly once, in a commit of its own or in a
// group commit with the others queued for the same branch, found again
// after a crash by its Baton-Promotion-UID trailer, never force-pushed.
type Deliverer struct {
	// Reader reads the credentials Secret, uncached.
	Reader client.Reader
	// CacheDir holds one working clone per repository, branch and Secret.
	CacheDir string
	// Timeout bounds each network operation. Zero means DefaultTimeout.
	Timeout time.Duration
	// MaxAttempts bounds push attempts. Zero means DefaultMaxAttempts.
	MaxAttempts int
	// SearchDepth is how far back Delivered looks. Zero means
	// DefaultSearchDepth.
	SearchDepth int
	// MergePoll is the requeue interval while waiting for a merge. Zero means
	// DefaultMergePoll.
	MergePoll time.Duration
	// Keys is the manager's key, from which the key of the Baton-Signature
	// trailer is derived: only a commit that carries it counts as delivered.
	Keys KeySource
	// Network is the manager's policy for the hosts delivery.git.url may
	// name, and for credentials over plain HTTP.
	Network batongit.Network
	// MaxBatch bounds how many Promotions one group commit carries. Zero
	// means DefaultMaxBatch.
	MaxBatch int
	// Stats counts commits, pushes and push retries.
	Stats Stats
	// Notify, when set, is called with the Promotion of each Submit once its
	// delivery is done, so that the engine reconciles it again.
	Notify func(*batonv1alpha1.Promotion)

	locks sync.Map // cache key -> *sync.Mutex
	// clean remembers, per cache key, the commit the worktree was left
	// exactly at by this process's last commit, so that the next delivery
	// can skip the hard reset, which walks every file of the worktree.
	clean sync.Map // cache key -> plumbing.Hash
	// indexes holds, per cache key, the Baton-Promotion-UID trailers of the
	// commits the clone has fetched, so that finding a Promotion's commit
	// does not read the history again on every delivery.
	indexes sync.Map // cache key -> *trailerIndex
	// queues holds, per cache key, the deliveries waiting for the next
	// group commit.
	queues sync.Map // cache key -> *queue
	// inflight holds the job of each Submit until its outcome is handed
	// out.
	inflight sync.Map // Promotion UID -> *job
}

var _ delivery.Deliverer = (*Deliverer)(nil)

// New returns a Deliverer that caches its clones under cacheDir and signs
// its commits with a key derived from keys.
func New(reader client.Reader, cacheDir string, keys KeySource) *Deliverer {
	return &Deliverer{Reader: reader, CacheDir: cacheDir, Keys: keys}
}

// DefaultCacheDir is the cache directory when none is configured.
func DefaultCacheDir() string { return filepath.Join(os.TempDir(), "baton-git") }

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// session is one Delivered or Deliver call holding the lock of one clone.
type session struct {
	*clone
	req        delivery.Request
	git        *batonv1alpha1.GitDelivery
	branch     string
	pushBranch string // empty unless different from branch
	log        logr.Logger
	unlock     func()
	// editedFiles are the files the last edit wrote, relative to the
	// worktree, in the order first edited; empty when it changed nothing.
	// editFiles are the files its edits name, changed or not.
	editedFiles, editFiles []string
	// key is the clone's cache key; clean is the Deliverer's map of clean
	// worktrees.
	key   string
	clean *sync.Map
	// mergePoll is how soon a commit waiting for its merge is looked at
	// again.
	mergePoll time.Duration
	// signingKey signs and verifies the Baton-Signature trailer.
	signingKey []byte
	// index is the clone's index of trailers.
	index *trailerIndex
	// stats are the Deliverer's counters.
	stats *Stats
}

// prepare validates the Environment's delivery.git and reads the
// credentials; the clone is neither locked nor opened yet.
func (d *Deliverer) prepare(ctx context.Context, req delivery.Request) (*session, error) {
	env := req.Environment
	g := env.Spec.Delivery.Git
	if g == nil {
		return nil, outcome.Stall(batonv1alpha1.DeliveryFailedReason, "Environment %q has no delivery.git", env.Name)
	}
	branch := g.Branch
	if branch == "" {
		branch = "main"
	}
	for _, b := range []struct{ field, name string }{{"delivery.git.branch", branch}, {"delivery.git.pushBranch", g.PushBranch}} {
		if b.name != "" && plumbing.NewBranchReferenceName(b.name).Validate() != nil {
			return nil, outcome.Stall(batonv1alpha1.RepositoryNotFoundReason, "%s %q is not a valid branch name", b.field, b.name)
		}
	}
	pushBranch := g.PushBranch
	if pushBranch == branch {
		pushBranch = ""
	}
	// The key cannot include the Secret's version before it is read, so the
	// known_hosts file lives beside the clone of the current version.
	if d.Keys == nil {
		return nil, errors.New("the git deliverer has no key to sign its commits with")
	}
	managerKey, err := d.Keys.Key(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the key of commit signatures: %w", err)
	}
	remote := batongit.Remote{Namespace: env.Namespace, URL: g.URL, SecretRef: g.SecretRef, Field: "delivery.git", Push: true, Network: d.Network}
	creds, err := batongit.ReadCredentials(ctx, d.Reader, remote, filepath.Join(d.CacheDir, "known-hosts", cacheKey(g.URL, branch, pushBranch, env.Namespace)))
	if err != nil {
		return nil, err
	}
	key := cacheKey(g.URL, branch, pushBranch, creds.ID)
	timeout := orDefault(d.Timeout, DefaultTimeout)
	s := &session{
		clone: &clone{
			dir: filepath.Join(d.CacheDir, key), url: g.URL, creds: creds,
			timeout: func(ctx context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(ctx, timeout)
			},
			depth:  orDefault(d.SearchDepth, DefaultSearchDepth),
			forget: func() { d.clean.Delete(key); d.index(key).reset() },
		},
		req: req, git: g, branch: branch, pushBranch: pushBranch, key: key, clean: &d.clean,
		mergePoll:  orDefault(d.MergePoll, DefaultMergePoll),
		signingKey: commitKey(managerKey),
		log:        log.FromContext(ctx).WithValues("repository", batongit.RedactURLs(g.URL), "branch", branch, "promotion", klog.KObj(req.Promotion)),
		index:      d.index(key),
		stats:      &d.Stats,
	}
	return s, nil
}

// lock takes the lock of the session's clone and opens it.
func (d *Deliverer) lock(s *session) error {
	mu, _ := d.locks.LoadOrStore(s.key, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	s.unlock = mu.(*sync.Mutex).Unlock
	if err := s.clone.open(); err != nil {
		s.unlock()
		return err
	}
	return nil
}

// open prepares a session for req and takes its clone's lock.
func (d *Deliverer) open(ctx context.Context, req delivery.Request) (*session, error) {
	s, err := d.prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := d.lock(s); err != nil {
		return nil, err
	}
	return s, nil
}

// heads is the state of the remote branches after a fetch.
type heads struct {
	branch     plumbing.Hash
	push       plumbing.Hash // zero when there is no pushBranch or it does not exist yet
	pushExists bool
}

// sync fetches the branch (and the push branch). A clone whose files turn
// out corrupt is thrown away and cloned again, once.
func (s *session) sync(ctx context.Context) (heads, error) {
	h, err := s.fetchAll(ctx)
	if err != nil && isCorrupt(err) && s.creds.Classify(err) == nil {
		s.log.Info("The cached clone is corrupt; cloning again", "error", err.Error())
		if err := s.reinit(); err != nil {
			return heads{}, err
		}
		h, err = s.fetchAll(ctx)
	}
	if err != nil {
		if st := s.creds.Classify(err); st != nil {
			return heads{}, st
		}
		return heads{}, err
	}
	return h, nil
}

func (s *session) fetchAll(ctx context.Context) (heads, error) {
	var h heads
	head, ok, err := s.fetch(ctx, s.branch)
	if err != nil {
		return h, err
	}
	if !ok {
		return h, outcome.Stall(batonv1alpha1.RepositoryNotFoundReason,
			"delivery.git.branch %q does not exist in %s; create it, or name an existing branch", s.branch, batongit.RedactURLs(s.url))
	}
	h.branch = head
	if s.pushBranch != "" {
		if h.push, h.pushExists, err = s.fetch(ctx, s.pushBranch); err != nil {
			return h, err
		}
	}
	// Prove the clone readable before anything relies on it.
	if _, err := s.repo.CommitObject(h.branch); err != nil {
		return h, fmt.Errorf("read commit %s: %w", h.branch, err)
	}
	return h, nil
}

// record describes a Promotion's commit.
func (s *session) record(sha plumbing.Hash) delivery.Record {
	return delivery.Record{Commit: sha.String()}
}

// find looks for the Promotion's commit on the branch, then on the push
// branch. onBranch says whether it is on the branch itself. Only a commit
// that verify accepts counts; a commit that carries the UID and is not
// Baton's, with none of Baton's own beside it, stalls the Promotion as
// ForeignCommit.
func (s *session) find(h heads) (sha plumbing.Hash, onBranch bool, err error) {
	uid := string(s.req.Promotion.UID)
	var firstForeign *match
	for _, b := range []struct {
		head     plumbing.Hash
		onBranch bool
		exists   bool
	}{{h.branch, true, true}, {h.push, false, h.pushExists}} {
		if !b.exists {
			continue
		}
		m, err := s.findIndexed(s.index, b.head, uid, s.depth, s.verify)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		if m.found != nil {
			return m.found.Hash, b.onBranch, nil
		}
		if m.rejected != nil && firstForeign == nil {
			firstForeign = &m
		}
	}
	if firstForeign != nil {
		s.log.Info("A commit carries the Promotion's UID but is not Baton's", "commit", firstForeign.rejected.Hash.String(), "why", firstForeign.why.Error())
		return plumbing.ZeroHash, false, s.foreign(firstForeign.rejected, firstForeign.why)
	}
	return plumbing.ZeroHash, false, nil
}

// lookup syncs the clone and looks for the Promotion's commit.
func (s *session) lookup(ctx context.Context) (h heads, sha plumbing.Hash, onBranch bool, err error) {
	if h, err = s.sync(ctx); err != nil {
		return h, plumbing.ZeroHash, false, err
	}
	sha, onBranch, err = s.find(h)
	return h, sha, onBranch, err
}

// delivered is the outcome of the Promotion's commit sha: done when it is
// on the branch, else the record with an *outcome.Waiting for its merge.
func (s *session) delivered(sha plumbing.Hash, onBranch bool) (delivery.Record, error) {
	if onBranch {
		return s.record(sha), nil
	}
	return s.record(sha), outcome.Wait(s.mergePoll, batonv1alpha1.AwaitingMergeReason,
		"Commit %s is on branch %q; waiting until it is merged into %q (open the pull request from %q)",
		short(sha), s.pushBranch, s.branch, s.pushBranch)
}

func short(h plumbing.Hash) string { return h.String()[:12] }

// Delivered reports whether the branch already carries req.Image: either a
// commit with this Promotion's Baton-Promotion-UID trailer is within
// SearchDepth commits of its head, or the file already has the image. With
// a pushBranch, a commit still waiting to be merged is not delivered.
func (d *Deliverer) Delivered(ctx context.Context, req delivery.Request) (delivery.Record, bool, error) {
	s, err := d.open(ctx, req)
	if err != nil {
		return delivery.Record{}, false, err
	}
	defer s.unlock()
	h, sha, onBranch, err := s.lookup(ctx)
	if err != nil {
		return delivery.Record{}, false, err
	}
	if !sha.IsZero() {
		s.log.V(1).Info("Found the Promotion's commit", "commit", sha.String(), "merged", onBranch)
		return s.record(sha), onBranch, nil
	}
	changed, err := s.edit(h.branch)
	if err != nil {
		return delivery.Record{}, false, err
	}
	if changed {
		// Deliver edits again on its own base: put the file back, so that
		// the worktree stays clean at the branch head and Deliver's reset
		// stays the fast one.
		if err := s.undo(h.branch); err != nil {
			return delivery.Record{}, false, err
		}
	}
	return delivery.Record{}, !changed, nil
}

// undo writes the edited files back as they are in base, and marks the
// worktree clean at base again.
func (s *session) undo(base plumbing.Hash) error {
	c, err := s.repo.CommitObject(base)
	if err != nil {
		return fmt.Errorf("read commit %s: %w", base, err)
	}
	root, err := os.OpenRoot(s.workDir())
	if err != nil {
		return fmt.Errorf("open the worktree: %w", err)
	}
	defer root.Close()
	for _, file := range s.editedFiles {
		f, err := c.File(file)
		if err != nil {
			return fmt.Errorf("read %s at %s: %w", file, base, err)
		}
		content, err := f.Contents()
		if err != nil {
			return fmt.Errorf("read %s at %s: %w", file, base, err)
		}
		if err := root.WriteFile(file, []byte(content), 0o644); err != nil {
			return fmt.Errorf("restore %s: %w", file, err)
		}
	}
	s.clean.Store(s.key, base)
	return nil
}

// edit resets the worktree to base and applies the Environment's edit. An
// edit the user must fix is Stalled with ManifestInvalid.
func (s *session) edit(base plumbing.Hash) (bool, error) {
	if err := s.resetTo(base); err != nil {
		return false, err
	}
	// Until the next commit, the worktree may differ from any commit.
	s.clean.Delete(s.key)
	return s.apply()
}

// apply applies the Environment's edits to the worktree as it is: all of
// them, or none when one of them fails. It reports whether a file changed;
// false means that every edited field already holds the image.
func (s *session) apply() (bool, error) {
	s.editedFiles, s.editFiles = nil, nil
	img, err := manifest.ParseImage(s.req.Image)
	if err != nil {
		return false, outcome.Stall(batonv1alpha1.InvalidImageReason, "image %q: %v", s.req.Image, err)
	}
	edits, err := manifestEdits(s.git)
	if err != nil {
		return false, err
	}
	res, err := manifest.ApplyAll(s.workDir(), edits, img, manifest.Options{PinDigest: s.req.Environment.Spec.Delivery.PinDigest})
	if errors.Is(err, manifest.ErrPathEscapes) {
		return false, outcome.Stall(batonv1alpha1.PathEscapesReason, "%s", s.creds.Redact(err.Error()))
	}
	if errors.Is(err, manifest.ErrInvalid) {
		return false, outcome.Stall(batonv1alpha1.ManifestInvalidReason, "%s", s.creds.Redact(err.Error()))
	}
	if err != nil {
		return false, fmt.Errorf("edit the checkout: %w", err)
	}
	s.editedFiles = res.Files
	for _, r := range res.Edits {
		if !slices.Contains(s.editFiles, r.File) {
			s.editFiles = append(s.editFiles, r.File)
		}
	}
	return len(res.Files) > 0, nil
}

// resetTo makes the worktree the tree of base. When this process's last
// commit left the worktree exactly at base, only the branch and HEAD move;
// when it left it exactly at another commit, only the files that differ
// are written (advance); otherwise it is a full hard reset and clean.
func (s *session) resetTo(base plumbing.Hash) error {
	at, ok := s.clean.Load(s.key)
	if ok && at.(plumbing.Hash) == base {
		if err := s.repo.Storer.SetReference(plumbing.NewHashReference(localBranch, base)); err != nil {
			return fmt.Errorf("point %s at %s: %w", localBranch, base, err)
		}
		return s.repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, localBranch))
	}
	if ok {
		// The worktree is exactly another commit, typically this process's
		// own that lost a race: write only what differs.
		advanced, err := s.advance(at.(plumbing.Hash), base)
		if advanced && err == nil {
			s.clean.Store(s.key, base)
			if s.stats != nil {
				s.stats.Advances.Add(1)
			}
			return nil
		}
		s.clean.Delete(s.key)
		if err != nil {
			s.log.V(1).Info("Could not move the worktree file by file; resetting it in full", "error", err.Error())
		}
	}
	return s.reset(base)
}

// Names of the fields of delivery.git that say what to edit.
const (
	fieldPathName = "delivery.git.path"
	fieldEdit     = "delivery.git.edit"
	fieldEdits    = "delivery.git.edits"
)

// manifestEdits maps delivery.git onto manifest.Edits, each named by its
// field: delivery.git.edit, or delivery.git.edits[i]. A path that names the
// clone's .git link is refused, whatever the API server let through.
func manifestEdits(g *batonv1alpha1.GitDelivery) ([]manifest.Edit, error) {
	if (g.Edit != nil) == (len(g.Edits) > 0) {
		return nil, outcome.Stall(batonv1alpha1.ManifestInvalidReason, "exactly one of %s or %s must be set", fieldEdit, fieldEdits)
	}
	if err := notGit(fieldPathName, g.Path); err != nil {
		return nil, err
	}
	var out []manifest.Edit
	for i, me := range g.ManifestEdits() {
		e := manifest.Edit{Path: g.Path, Name: fieldEdit}
		if g.Edit == nil {
			e.Name = fmt.Sprintf("%s[%d]", fieldEdits, i)
		}
		file, fileField := "", ""
		switch {
		case me.Kustomize != nil:
			e.Kustomize = &manifest.KustomizeEdit{ImageName: me.Kustomize.ImageName}
		case me.YAML != nil:
			e.YAML = &manifest.YAMLEdit{File: me.YAML.File, Field: me.YAML.Field}
			file, fileField = me.YAML.File, e.Name+".yaml.file"
		case me.Helm != nil:
			h := me.Helm
			e.Helm = &manifest.HelmEdit{File: h.File, RepositoryField: h.RepositoryField, TagField: h.TagField, ImageField: h.ImageField}
			file, fileField = h.File, e.Name+".helm.file"
		}
		if err := notGit(fileField, file); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// notGit refuses a path with a .git component: Baton edits the
// repository's files, not Git's own.
func notGit(field, f string) error {
	for _, part := range strings.FieldsFunc(f, func(r rune) bool { return r == '/' || r == '\\' }) {
		if strings.EqualFold(part, ".git") {
			return outcome.Stall(batonv1alpha1.ManifestInvalidReason,
				"%s may not name .git (%q): Baton edits the repository's files, not Git's own", field, f)
		}
	}
	return nil
}

// Deliver commits req.Image and pushes it, redoing the commit on the new
// remote head when another committer got there first. It never force
// pushes. Deliveries to the same branch that queue up while a push is in
// flight go into the next commit together (see batch.go). With a
// pushBranch, until the commit is merged, it returns the Record of the
// pushed commit together with an *outcome.Waiting.
func (d *Deliverer) Deliver(ctx context.Context, req delivery.Request) (delivery.Record, error) {
	j, err := d.submit(ctx, req)
	if err != nil {
		return delivery.Record{}, err
	}
	select {
	case <-j.done:
		return j.rec, j.err
	case <-ctx.Done():
		return delivery.Record{}, fmt.Errorf("wait for the push to %s: %w", batongit.RedactURLs(req.Environment.Spec.Delivery.Git.URL), ctx.Err())
	}
}

// target is the branch to push to, the commit to build on, and the remote
// head the push must fast-forward. The commit is always built on the
// branch: a pushBranch is writable by whoever may open pull requests, so
// what it holds is nobody's approved work. A pushBranch that holds commits
// the branch does not is refused, since pushing over them would need a
// force push.
func (s *session) target(h heads) (target string, base, remote plumbing.Hash, err error) {
	if s.pushBranch == "" {
		return s.branch, h.branch, h.branch, nil
	}
	if h.pushExists && !s.isAncestor(h.push, h.branch) {
		return "", plumbing.ZeroHash, plumbing.ZeroHash, outcome.Stall(batonv1alpha1.PushBranchDivergedReason,
			"delivery.git.pushBranch %q (at %s) holds commits that are not on delivery.git.branch %q; Baton builds only on %q and never force-pushes: "+
				"merge or delete branch %q, then Baton pushes its commit there", s.pushBranch, short(h.push), s.branch, s.branch, s.pushBranch)
	}
	return s.pushBranch, h.branch, h.push, nil
}

// backoff is an exponential delay from 100ms up to 3.2s, with full jitter.
func backoff(attempt int) time.Duration {
	ceiling := 100 * time.Millisecond << min(attempt-2, 5)
	return ceiling/2 + rand.N(ceiling/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("wait before pushing again: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}
