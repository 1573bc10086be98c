package gitdelivery

import (
	"context"
	"fmt"
	"os"
	"path"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/baton-dev/baton/internal/delivery"
	batongit "github.com/baton-dev/baton/internal/git"
	"github.com/baton-dev/baton/internal/metrics"
)

// DefaultMaxBatch bounds how many Promotions one group commit carries.
const DefaultMaxBatch = 1000

// Group commit. Deliveries to one clone (repository, branch, pushBranch and
// Secret) join a queue. Whoever finds no batch in flight leads: it takes
// everything queued, makes one commit of it and pushes, then takes what
// queued up meanwhile, until the queue is empty. A lone delivery starts at
// once, so it is no slower than one commit per delivery; a delivery that
// arrives during a push waits for that push and then goes in the next
// commit with everything else that arrived.

// job is one delivery waiting for its group commit.
type job struct {
	s    *session
	done chan struct{}
	rec  delivery.Record
	// found: the branch already carried the image, by an earlier commit of
	// this Promotion or by someone else's.
	found bool
	err   error
}

func (j *job) finish(rec delivery.Record, found bool, err error) {
	j.rec, j.found, j.err = rec, found, err
	close(j.done)
}

// queue is the deliveries waiting for one clone.
type queue struct {
	mu      sync.Mutex
	pending []*job
	running bool
}

// Stats counts what the Deliverer did, for benchmarks and tests.
type Stats struct {
	Commits, Pushes, PushRetries atomic.Int64
	// Advances counts worktrees moved to a new head file by file instead
	// of reset in full (session.resetTo).
	Advances atomic.Int64
}

// submit prepares req and queues it; the returned job is done when its
// group commit is pushed, or when it failed.
func (d *Deliverer) submit(ctx context.Context, req delivery.Request) (*job, error) {
	s, err := d.prepare(ctx, req)
	if err != nil {
		return nil, err
	}
	j := &job{s: s, done: make(chan struct{})}
	v, _ := d.queues.LoadOrStore(s.key, &queue{})
	q := v.(*queue)
	q.mu.Lock()
	q.pending = append(q.pending, j)
	lead := !q.running
	q.running = true
	q.mu.Unlock()
	if lead {
		// The batch outlives the reconcile that started it; each network
		// call has its own timeout.
		go d.lead(context.WithoutCancel(ctx), q)
	}
	return j, nil
}

// lead delivers the queue's batches until it is empty.
func (d *Deliverer) lead(ctx context.Context, q *queue) {
	limit := orDefault(d.MaxBatch, DefaultMaxBatch)
	for {
		q.mu.Lock()
		n := min(len(q.pending), limit)
		batch := q.pending[:n:n]
		q.pending = q.pending[n:]
		if n == 0 {
			q.running = false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		later := d.deliverBatch(ctx, batch)
		if len(later) > 0 {
			q.mu.Lock()
			q.pending = append(later, q.pending...)
			q.mu.Unlock()
		}
	}
}

// deliverBatch delivers a batch, redoing its commit on the new remote head
// while other committers get there first. It returns the jobs that could
// not share this commit (another edit of the same file, another author),
// for the next one.
func (d *Deliverer) deliverBatch(ctx context.Context, batch []*job) (later []*job) {
	lead := batch[0].s
	if err := d.lock(lead); err != nil {
		finishAll(batch, err)
		return nil
	}
	defer lead.unlock()
	for _, j := range batch[1:] {
		j.s.clone = lead.clone
	}
	attempts := orDefault(d.MaxAttempts, DefaultMaxAttempts)
	live := batch
	var lastErr error
	for attempt := 1; attempt <= attempts; attempt++ {
		if attempt > 1 {
			d.Stats.PushRetries.Add(1)
			if err := sleep(ctx, backoff(attempt)); err != nil {
				finishAll(live, err)
				return later
			}
		}
		r := d.try(ctx, lead, live, attempt)
		later = append(later, r.later...)
		if len(r.again) == 0 {
			return later
		}
		live, lastErr = r.again, r.err
		lead.log.V(1).Info("The branch moved while pushing; redoing the commit on its new head", "attempt", attempt, "promotions", len(live))
	}
	finishAll(live, fmt.Errorf("push to %s branch %s: gave up after %d attempts, the branch kept moving: %w",
		batongit.RedactURLs(lead.url), lead.branch, attempts, lastErr))
	return later
}

func finishAll(jobs []*job, err error) {
	for _, j := range jobs {
		j.finish(delivery.Record{}, false, err)
	}
}

// attempt is what one try left over: jobs to try again on the new head
// (with the push error), and jobs for the next commit.
type attempt struct {
	again []*job
	err   error
	later []*job
}

// try is one attempt at one commit for every job of the batch. Every job it
// does not return is finished.
func (d *Deliverer) try(ctx context.Context, lead *session, jobs []*job, n int) attempt {
	// A previous attempt, or a previous process, may have pushed.
	h, err := lead.sync(ctx)
	if err != nil {
		finishAll(jobs, err)
		return attempt{}
	}
	jobs = findEach(jobs, h)
	if len(jobs) == 0 {
		return attempt{}
	}
	target, base, remote, err := lead.target(h)
	if err != nil {
		finishAll(jobs, err)
		return attempt{}
	}
	if err := lead.resetTo(base); err != nil {
		finishAll(jobs, err)
		return attempt{}
	}
	lead.clean.Delete(lead.key)
	edited, later := editEach(jobs)
	if len(edited) == 0 {
		// Nothing changed; the worktree is still base.
		lead.clean.Store(lead.key, base)
		return attempt{later: later}
	}
	commit, err := d.commitBatch(lead, edited)
	if err != nil {
		finishAll(edited, err)
		return attempt{later: later}
	}
	pushErr := lead.push(ctx, target)
	d.Stats.Pushes.Add(1)
	if pushErr == nil {
		metrics.GitPushAttempts.WithLabelValues(metrics.PushOK).Inc()
		lead.log.Info("Pushed the group commit", "commit", commit.String(), "to", target, "attempt", n, "promotions", len(edited))
		for _, j := range edited {
			rec, err := j.s.delivered(commit, target == lead.branch)
			j.finish(rec, false, err)
		}
		return attempt{later: later}
	}
	// Did the branch move under us? Then redo every edit on its new head.
	moved, err := lead.moved(ctx, target, remote)
	if err == nil && !moved && isCorrupt(pushErr) {
		// A shallow clone that lost a race can miss the objects a push
		// needs: clone again and retry, never fail the delivery for it.
		lead.log.Info("The push needs objects the shallow clone lacks; cloning again", "error", pushErr.Error())
		err = lead.reinit()
		moved = err == nil
	}
	switch {
	case err != nil:
		metrics.GitPushAttempts.WithLabelValues(metrics.PushError).Inc()
		finishAll(edited, err)
		return attempt{later: later}
	case !moved:
		metrics.GitPushAttempts.WithLabelValues(metrics.PushError).Inc()
		finishAll(edited, lead.rejected(pushErr, target))
		return attempt{later: later}
	}
	metrics.GitPushAttempts.WithLabelValues(metrics.PushConflict).Inc()
	return attempt{again: edited, err: pushErr, later: later}
}

// findEach finishes the jobs whose Promotion already has its commit on a
// fetched head and returns the others.
func findEach(jobs []*job, h heads) []*job {
	var rest []*job
	for _, j := range jobs {
		sha, onBranch, err := j.s.find(h)
		switch {
		case err != nil:
			j.finish(delivery.Record{}, false, err)
		case !sha.IsZero():
			j.s.log.V(1).Info("Found the Promotion's commit", "commit", sha.String(), "merged", onBranch)
			rec, err := j.s.delivered(sha, onBranch)
			j.finish(rec, true, err)
		default:
			rest = append(rest, j)
		}
	}
	return rest
}

// editEach applies each job's edits to the worktree. Edits that fail fail
// their job alone, untouched by the others, and leave the worktree as it
// was (manifest.ApplyAll writes all of a job's edits or none); edits that
// change nothing (the branch already carries the image, by someone else's
// commit) are delivered without a commit. Jobs that edit a file another
// job of this batch edits, or whose commit author differs from the
// batch's, wait for the next commit.
func editEach(jobs []*job) (edited, later []*job) {
	files := map[string]bool{}
	name, email := author(jobs[0].s.req.Environment)
	for _, j := range jobs {
		keys := editKeys(j.s)
		if n, e := author(j.s.req.Environment); slices.ContainsFunc(keys, func(k string) bool { return files[k] }) || n != name || e != email {
			later = append(later, j)
			continue
		}
		for _, k := range keys {
			files[k] = true
		}
		changed, err := j.s.apply()
		switch {
		case err != nil:
			j.finish(delivery.Record{}, false, err)
		case !changed:
			j.s.log.Info("The repository already carries the image; no commit", "image", j.s.req.Image, "files", j.s.editFiles)
			j.finish(delivery.Record{}, true, nil)
		default:
			edited = append(edited, j)
		}
	}
	return edited, later
}

// editKeys name what a job's edits write, before they run: the path, and
// the file of each YAML or Helm edit.
func editKeys(s *session) []string {
	var keys []string
	for _, e := range s.git.ManifestEdits() {
		file := ""
		switch {
		case e.YAML != nil:
			file = e.YAML.File
		case e.Helm != nil:
			file = e.Helm.File
		}
		keys = append(keys, path.Clean(s.git.Path)+"\x00"+path.Clean("/"+file))
	}
	return keys
}

// commitBatch commits the edited files of the jobs as one commit: a lone
// Promotion's commit as ever, or a group commit with one signed trailer
// block per Promotion.
func (d *Deliverer) commitBatch(lead *session, jobs []*job) (plumbing.Hash, error) {
	d.Stats.Commits.Add(1)
	if len(jobs) == 1 {
		s := jobs[0].s
		return s.commit()
	}
	blobs, err := lead.stage(jobs)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	parts := make([]groupPart, 0, len(jobs))
	for i, j := range jobs {
		env := j.s.req.Environment
		parts = append(parts, groupPart{req: j.s.req, files: j.s.editedFiles,
			signature: signature(lead.signingKey, env.Namespace, env.Name, string(j.s.req.Promotion.UID), blobs[i])})
	}
	wt, err := lead.repo.Worktree()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("open the worktree: %w", err)
	}
	name, email := author(lead.req.Environment)
	sig := &object.Signature{Name: name, Email: email, When: time.Now()}
	sha, err := wt.Commit(groupMessage(parts), &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit %d files: %w", len(jobs), err)
	}
	// The edits touched only the files now committed: the worktree is sha.
	lead.clean.Store(lead.key, sha)
	return sha, nil
}

// stage writes each job's edited files as blobs and points their index
// entries at them, reading and writing the index once for the whole batch:
// go-git's Add reads and writes the whole index for every file.
func (s *session) stage(jobs []*job) ([][]signedFile, error) {
	idx, err := s.repo.Storer.Index()
	if err != nil {
		return nil, fmt.Errorf("read the index: %w", err)
	}
	root, err := os.OpenRoot(s.workDir())
	if err != nil {
		return nil, fmt.Errorf("open the worktree: %w", err)
	}
	defer root.Close()
	blobs := make([][]signedFile, len(jobs))
	for i, j := range jobs {
		for _, file := range j.s.editedFiles {
			blob, err := s.stageFile(idx, root, file)
			if err != nil {
				return nil, err
			}
			blobs[i] = append(blobs[i], signedFile{name: file, blob: blob})
		}
	}
	if err := s.repo.Storer.SetIndex(idx); err != nil {
		return nil, fmt.Errorf("write the index: %w", err)
	}
	return blobs, nil
}

// stageFile writes one file of the worktree as a blob and points its index
// entry at it.
func (s *session) stageFile(idx *index.Index, root *os.Root, file string) (plumbing.Hash, error) {
	content, err := root.ReadFile(file)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("stage %s: %w", file, err)
	}
	obj := s.repo.Storer.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("stage %s: %w", file, err)
	}
	if _, err := w.Write(content); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("stage %s: %w", file, err)
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("stage %s: %w", file, err)
	}
	blob, err := s.repo.Storer.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("stage %s: %w", file, err)
	}
	// Only files already in the tree are edited (manifest.ApplyAll
	// modifies, never creates), so the entry exists.
	e, err := idx.Entry(file)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("find %s in the index: %w", file, err)
	}
	e.Hash, e.Size, e.ModifiedAt = blob, uint32(len(content)), time.Now()
	return blob, nil
}
