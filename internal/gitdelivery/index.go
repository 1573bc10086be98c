package gitdelivery

import (
	"errors"
	"fmt"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// trailerIndex maps each Baton-Promotion-UID trailer to the commits of one
// clone that carry it. It is updated from each fetched head by walking only
// the commits it has not seen, so that finding a Promotion's commit costs
// a map lookup instead of a walk of SearchDepth commits per delivery.
type trailerIndex struct {
	mu    sync.Mutex
	seen  map[plumbing.Hash]struct{}
	byUID map[string][]plumbing.Hash // newest first, as walked
}

func newTrailerIndex() *trailerIndex {
	return &trailerIndex{seen: map[plumbing.Hash]struct{}{}, byUID: map[string][]plumbing.Hash{}}
}

// index is the trailer index of the clone with this cache key.
func (d *Deliverer) index(key string) *trailerIndex {
	x, _ := d.indexes.LoadOrStore(key, newTrailerIndex())
	return x.(*trailerIndex)
}

// reset forgets everything, for a clone that was thrown away.
func (x *trailerIndex) reset() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.seen, x.byUID = map[plumbing.Hash]struct{}{}, map[string][]plumbing.Hash{}
}

// update indexes the commits reachable from head that it has not seen,
// at most limit of them, newest first. The walk stops at the edge of a
// shallow clone and at every commit already indexed.
func (x *trailerIndex) update(c *clone, head plumbing.Hash, limit int) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	queue := []plumbing.Hash{head}
	for n := 0; len(queue) > 0 && n < limit; n++ {
		h := queue[0]
		queue = queue[1:]
		if _, ok := x.seen[h]; ok {
			continue
		}
		commit, err := c.repo.CommitObject(h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			continue // beyond a shallow clone's edge
		}
		if err != nil {
			return fmt.Errorf("index the history of %s: %w", head, err)
		}
		x.seen[h] = struct{}{}
		for _, uid := range trailers(commit.Message)[TrailerPromotionUID] {
			x.byUID[uid] = append(x.byUID[uid], h)
		}
		queue = append(queue, commit.ParentHashes...)
	}
	return nil
}

// candidates are the indexed commits that carry uid, newest first.
func (x *trailerIndex) candidates(uid string) []plumbing.Hash {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]plumbing.Hash(nil), x.byUID[uid]...)
}

// findIndexed looks for a commit carrying uid's trailer that accept takes,
// among the indexed commits reachable from head, newest first. The index
// first takes in up to depth commits it has not seen.
func (c *clone) findIndexed(x *trailerIndex, head plumbing.Hash, uid string, depth int, accept func(*object.Commit) error) (match, error) {
	var m match
	if err := x.update(c, head, depth); err != nil {
		return m, err
	}
	for _, h := range x.candidates(uid) {
		if !c.isAncestor(h, head) {
			continue // on another branch of this clone, or rewritten away
		}
		commit, err := c.repo.CommitObject(h)
		if err != nil {
			return m, fmt.Errorf("read commit %s: %w", h, err)
		}
		if m.judge(commit, accept) {
			return m, nil
		}
	}
	return m, nil
}
