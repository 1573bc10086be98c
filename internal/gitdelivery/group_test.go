package gitdelivery

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/delivery"
)

// envNames is app-0 … app-<n-1>.
func envNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("app-%d", i)
	}
	return out
}

// requests is one Promotion to tag per Environment, all through one Secret,
// so that they share one clone.
func requests(t *testing.T, r *remote, envs []string, tag string) []delivery.Request {
	ref := httpSecret(t)
	reqs := make([]delivery.Request, len(envs))
	for i, e := range envs {
		reqs[i] = request(environment(e, r.httpURL(), ref), tag)
	}
	return reqs
}

// batchOf delivers reqs as one batch: it queues them all before anyone
// leads, then leads the queue as the first delivery would.
func batchOf(t *testing.T, d *Deliverer, reqs []delivery.Request) []*job {
	t.Helper()
	ctx := testContext(t, nil)
	var q *queue
	jobs := make([]*job, len(reqs))
	for i, req := range reqs {
		s, err := d.prepare(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := d.queues.LoadOrStore(s.key, &queue{running: true})
		q = v.(*queue)
		jobs[i] = &job{s: s, done: make(chan struct{})}
		q.pending = append(q.pending, jobs[i])
	}
	d.lead(ctx, q)
	for _, j := range jobs {
		<-j.done
	}
	return jobs
}

// blockOf is the trailer block of uid in a commit message.
func blockOf(message, uid string) map[string][]string {
	for _, b := range trailerBlocks(message) {
		if slices.Contains(b[TrailerPromotionUID], uid) {
			return b
		}
	}
	return nil
}

// expectBlock checks that the commit sha carries req's block, with who
// promoted and who approved.
func expectBlock(t *testing.T, r *remote, sha plumbing.Hash, req delivery.Request) {
	t.Helper()
	b := blockOf(r.commit(t, sha).Message, string(req.Promotion.UID))
	if b == nil {
		t.Fatalf("commit %s has no block for %s", short(sha), req.Promotion.Name)
	}
	want := map[string][]string{
		TrailerPromotion:  {namespace + "/" + req.Promotion.Name},
		TrailerRevision:   {"2"},
		TrailerPromotedBy: {"alice"},
		TrailerApprovedBy: {"bob", "carol"},
	}
	for k, v := range want {
		if !slices.Equal(b[k], v) {
			t.Errorf("%s's block has %s %v, want %v", req.Promotion.Name, k, b[k], v)
		}
	}
}

// TestBurstLandsInFewerCommits: 30 Promotions into one branch at once land
// in fewer commits than Promotions, each exactly once with its own
// trailers, every app at its new tag, and no force push.
func TestBurstLandsInFewerCommits(t *testing.T) {
	const n = 30
	envs := envNames(n)
	r := newRemote(t, envs...)
	updates := filepath.Join(t.TempDir(), "updates.log")
	r.hook(t, "update", fmt.Sprintf("#!/bin/sh\necho \"$2 $3\" >> %s\n", updates))
	reqs := requests(t, r, envs, "v2")
	d := newDeliverer(t)
	ctx := testContext(t, nil)
	recs := make([]delivery.Record, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Go(func() { recs[i], errs[i] = d.Deliver(ctx, reqs[i]) })
	}
	wg.Wait()
	head := r.head(t, "main")
	commits := map[string]bool{}
	for i, req := range reqs {
		if errs[i] != nil {
			t.Fatalf("%s: %v", req.Promotion.Name, errs[i])
		}
		if got := r.commitsOf(t, "main", req.Promotion.UID); got != 1 {
			t.Errorf("%s landed %d times, want once", req.Promotion.Name, got)
		}
		expectBlock(t, r, plumbing.NewHash(recs[i].Commit), req)
		if got := r.file(t, head, envs[i]+"/kustomization.yaml"); !strings.Contains(got, "newTag: v2") {
			t.Errorf("%s at the head is not at v2:\n%s", envs[i], got)
		}
		commits[recs[i].Commit] = true
	}
	t.Logf("%d Promotions landed in %d commits, %d pushes", n, len(commits), d.Stats.Pushes.Load())
	if len(commits) >= n || d.Stats.Commits.Load() >= n {
		t.Errorf("%d Promotions landed in %d commits (%d made), want fewer", n, len(commits), d.Stats.Commits.Load())
	}
	expectFastForwards(t, r, updates)
}

// expectFastForwards checks that every update of a branch the update hook
// logged is a descendant of the one before: no force push. It returns how
// many there were.
func expectFastForwards(t *testing.T, r *remote, updates string) int {
	t.Helper()
	data, err := os.ReadFile(updates)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	for _, line := range lines {
		oldNew := strings.Fields(line)
		if len(oldNew) != 2 {
			t.Fatalf("update log line %q", line)
		}
		old, updated := r.commit(t, plumbing.NewHash(oldNew[0])), r.commit(t, plumbing.NewHash(oldNew[1]))
		if ok, err := old.IsAncestor(updated); err != nil || !ok {
			t.Errorf("update %s is not a fast-forward (%v): a force push", line, err)
		}
	}
	return len(lines)
}

// breakFile pushes, as someone else, a file that is not YAML.
func breakFile(t *testing.T, r *remote, file string) plumbing.Hash {
	return r.pushAs(t, "Dana", "dana@example.com", "main", "main", "Break "+file, func(dir string) {
		write(t, filepath.Join(dir, file), "images: [unclosed\n")
	})
}

// TestBadManifestFailsAlone: one Promotion of a batch edits a broken file.
// It fails alone with ManifestInvalid; the others share one group commit
// that leaves the broken file as it was.
func TestBadManifestFailsAlone(t *testing.T) {
	envs := envNames(5)
	r := newRemote(t, envs...)
	broken := breakFile(t, r, "app-2/kustomization.yaml")
	reqs := requests(t, r, envs, "v2")
	jobs := batchOf(t, newDeliverer(t), reqs)

	expectStalled(t, jobs[2].err, batonv1alpha1.ManifestInvalidReason, "app-2/kustomization.yaml")
	head := r.head(t, "main")
	for i, j := range jobs {
		if i == 2 {
			continue
		}
		if j.err != nil || j.rec.Commit != head.String() {
			t.Fatalf("%s: %+v, %v; want the group commit %s", envs[i], j.rec, j.err, head)
		}
		expectBlock(t, r, head, reqs[i])
	}
	c := r.commit(t, head)
	if len(c.ParentHashes) != 1 || c.ParentHashes[0] != broken {
		t.Errorf("the group commit's parents are %v, want %s", c.ParentHashes, broken)
	}
	if got := len(trailerBlocks(c.Message)); got != 4 {
		t.Errorf("the group commit has %d blocks, want 4", got)
	}
	if !strings.HasPrefix(c.Message, "Promote 4 environments\n") {
		t.Errorf("subject %q", strings.SplitN(c.Message, "\n", 2)[0])
	}
	if r.commitsOf(t, "main", reqs[2].Promotion.UID) != 0 {
		t.Errorf("the broken Promotion's UID is on main")
	}
	if got := r.file(t, head, "app-2/kustomization.yaml"); got != "images: [unclosed\n" {
		t.Errorf("the broken file changed:\n%s", got)
	}
}

// TestCrashAfterGroupPush: a manager pushes a group commit and dies before
// writing any status. A fresh manager (a new cache) finds every
// Promotion's commit in it and commits nothing again.
func TestCrashAfterGroupPush(t *testing.T) {
	envs := envNames(6)
	r := newRemote(t, envs...)
	reqs := requests(t, r, envs, "v2")
	for _, j := range batchOf(t, newDeliverer(t), reqs) {
		if j.err != nil {
			t.Fatal(j.err)
		}
	}
	pushed := r.head(t, "main")

	fresh := newDeliverer(t)
	ctx := testContext(t, nil)
	for _, req := range reqs {
		rec, done, err := fresh.Delivered(ctx, req)
		if err != nil || !done || rec.Commit != pushed.String() {
			t.Errorf("Delivered(%s) = %+v, %v, %v; want the group commit %s", req.Promotion.Name, rec, done, err, pushed)
		}
		rec, err = fresh.Deliver(ctx, req)
		if err != nil || rec.Commit != pushed.String() {
			t.Errorf("Deliver(%s) = %+v, %v; want the group commit %s", req.Promotion.Name, rec, err, pushed)
		}
	}
	if head := r.head(t, "main"); head != pushed || fresh.Stats.Commits.Load() != 0 {
		t.Errorf("the fresh manager committed again: main is %s, was %s; %d commits", head, pushed, fresh.Stats.Commits.Load())
	}
}

// externalOnGroupPush is a pre-receive hook that, the first time a group
// commit is pushed, first moves main itself: an external commit that sets
// app-3 to v2, so the group push loses the race.
const externalOnGroupPush = `#!/bin/sh
marker="$(pwd)/external-done"
read old new ref
[ -e "$marker" ] && exit 0
git log -1 --format=%s "$new" | grep -q '^Promote [0-9]* environments$' || exit 0
touch "$marker"
# Write outside the push's quarantine, so the external commit stays.
unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
export GIT_INDEX_FILE="$(pwd)/external-index"
git read-tree refs/heads/main
blob=$(git show refs/heads/main:app-3/kustomization.yaml | sed 's/newTag: v1/newTag: v2/' | git hash-object -w --stdin)
git update-index --cacheinfo 100644,"$blob",app-3/kustomization.yaml
tree=$(git write-tree)
c=$(GIT_AUTHOR_NAME=Ext GIT_AUTHOR_EMAIL=ext@example.com GIT_COMMITTER_NAME=Ext GIT_COMMITTER_EMAIL=ext@example.com git commit-tree "$tree" -p refs/heads/main -m "Set app-3 to v2 by hand")
git update-ref refs/heads/main "$c"
exit 0
`

// TestExternalCommitInTheMiddleOfABatch: the branch moves while a group
// commit is being pushed, by an external commit that already sets one of
// the batch's apps to its image. The batch is applied again on the new
// head: that app counts as delivered with no commit of its own, the others
// land once, and nothing is force-pushed.
func TestExternalCommitInTheMiddleOfABatch(t *testing.T) {
	envs := envNames(5)
	r := newRemote(t, envs...)
	r.hook(t, "pre-receive", externalOnGroupPush)
	updates := filepath.Join(t.TempDir(), "updates.log")
	r.hook(t, "update", fmt.Sprintf("#!/bin/sh\necho \"$2 $3\" >> %s\n", updates))
	reqs := requests(t, r, envs, "v2")
	d := newDeliverer(t)
	jobs := batchOf(t, d, reqs)

	head := r.head(t, "main")
	external := r.commit(t, head).ParentHashes[0]
	if got := r.commit(t, external).Message; !strings.Contains(got, "by hand") {
		t.Fatalf("the group commit's parent is %q, want the external commit", got)
	}
	if d.Stats.PushRetries.Load() < 1 {
		t.Errorf("no push was retried")
	}
	for i, j := range jobs {
		if j.err != nil {
			t.Fatalf("%s: %v", envs[i], j.err)
		}
		if i == 3 {
			if !j.found || j.rec.Commit != "" || r.commitsOf(t, "main", reqs[i].Promotion.UID) != 0 {
				t.Errorf("app-3 = %+v found=%v; want delivered by the external commit, with no commit of Baton's", j.rec, j.found)
			}
			continue
		}
		if j.rec.Commit != head.String() || r.commitsOf(t, "main", reqs[i].Promotion.UID) != 1 {
			t.Errorf("%s = %+v; want once, in the group commit %s", envs[i], j.rec, head)
		}
	}
	for _, e := range envs {
		if got := r.file(t, head, e+"/kustomization.yaml"); !strings.Contains(got, "newTag: v2") {
			t.Errorf("%s is not at v2:\n%s", e, got)
		}
	}
	expectFastForwards(t, r, updates)
}

// TestForgedBlockInAGroupCommit: someone with push rights copies a genuine
// group commit's blocks into a commit of their own that also moves
// another Promotion's app, with a block for it whose signature they made
// up. That Promotion stalls as ForeignCommit and nothing is pushed; the
// genuine Promotions still find their own commit.
func TestForgedBlockInAGroupCommit(t *testing.T) {
	envs := envNames(4)
	r := newRemote(t, envs...)
	reqs := requests(t, r, envs, "v2")
	genuine := reqs[:3]
	for _, j := range batchOf(t, newDeliverer(t), genuine) {
		if j.err != nil {
			t.Fatal(j.err)
		}
	}
	group := r.head(t, "main")
	victim := reqs[3]
	paras := strings.Split(strings.TrimSpace(r.commit(t, group).Message), "\n\n")
	forgedBlock := trailerBlock(victim) + TrailerEnvironment + ": " + namespace + "/app-3\n" + TrailerFile + ": app-3/kustomization.yaml\n" +
		TrailerSignature + ": " + strings.Repeat("cd", 32) + "\n"
	msg := "Promote 4 environments\n\n" + forgedBlock + paras[len(paras)-1] + "\n"
	forged := r.pushAs(t, DefaultAuthorName, DefaultAuthorEmail, "main", "main", msg, func(dir string) {
		for _, e := range envs {
			p := filepath.Join(dir, e, "kustomization.yaml")
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(strings.Replace(string(data), "newTag: v2", "newTag: v3", 1)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		setV2 := filepath.Join(dir, "app-3", "kustomization.yaml")
		data, _ := os.ReadFile(setV2)
		if err := os.WriteFile(setV2, []byte(strings.Replace(string(data), "newTag: v1", "newTag: v2", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	})

	d := newDeliverer(t)
	ctx := testContext(t, nil)
	_, err := d.Deliver(ctx, victim)
	expectStalled(t, err, batonv1alpha1.ForeignCommitReason, "commit "+short(forged),
		"the Baton-Signature of its block of "+string(victim.Promotion.UID)+" does not verify")
	if r.head(t, "main") != forged {
		t.Errorf("Baton pushed on top of the forged commit")
	}
	for _, req := range genuine {
		rec, done, err := d.Delivered(ctx, req)
		if err != nil || !done || rec.Commit != group.String() {
			t.Errorf("Delivered(%s) = %+v, %v, %v; want its genuine commit %s", req.Promotion.Name, rec, done, err, group)
		}
	}
}
