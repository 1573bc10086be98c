package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/delivery"
	"github.com/baton-dev/baton/internal/gitdelivery"
)

func init() { burst = runBursts }

// burstEnv is the Environment of app i: delivery.git into apps/app-<i>.
func burstEnv(url string, i int) *batonv1alpha1.Environment {
	return &batonv1alpha1.Environment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: fmt.Sprintf("app-%d", i)},
		Spec: batonv1alpha1.EnvironmentSpec{Delivery: batonv1alpha1.Delivery{Git: &batonv1alpha1.GitDelivery{
			URL: url, Branch: "main", Path: fmt.Sprintf("apps/app-%d", i),
			Edit: &batonv1alpha1.ManifestEdit{Kustomize: &batonv1alpha1.KustomizeEdit{ImageName: "registry.example/web"}},
		}}},
	}
}

// scenario is one measured burst.
type scenario struct {
	name       string
	n          int
	deliverers int // managers' deliverers on the branch
	external   int // external committers pushing during the burst
	baseline   bool
}

// result is what one burst did.
type result struct {
	wall                     time.Duration
	commits, pushes, retries int64
	failed, lost, forced     int
	externalLost             int
}

func runBursts(sizes string, files, commits int, profile string, cliMax int) error {
	var ns []int
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("-burst: %q is not a size", f)
		}
		ns = append(ns, n)
	}
	apps := slices.Max(ns)
	dir, err := os.MkdirTemp("", "bench-git-burst-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bare := filepath.Join(dir, "srv", "config.git")
	start := time.Now()
	if err := generate(bare, files, commits, apps); err != nil {
		return fmt.Errorf("generate the repository: %w", err)
	}
	updates := filepath.Join(dir, "updates.log")
	hook := filepath.Join(bare, "hooks", "update")
	if err := os.WriteFile(hook, []byte(fmt.Sprintf("#!/bin/sh\necho \"$2 $3\" >> %s\n", updates)), 0o755); err != nil {
		return err
	}
	fmt.Printf("generated %d files + %d apps, %d commits in %s\n", files, apps, commits, time.Since(start).Round(time.Millisecond))
	url, stop, err := serve(filepath.Dir(bare))
	if err != nil {
		return err
	}
	defer stop()
	url += "/config.git"

	b := &bench{dir: dir, bare: bare, url: url, updates: updates, cliMax: cliMax}
	var scenarios []scenario
	for _, n := range ns {
		scenarios = append(scenarios, scenario{name: fmt.Sprintf("Baton, %d promotions", n), n: n, deliverers: 1, baseline: true})
	}
	mid := ns[len(ns)/2]
	scenarios = append(scenarios,
		scenario{name: fmt.Sprintf("Baton, %d, 20 external committers", mid), n: mid, deliverers: 1, external: 20},
		scenario{name: fmt.Sprintf("Baton, %d, two deliverers", mid), n: mid, deliverers: 2})

	fmt.Printf("\n%d files, %d commits of history, loopback smart HTTP (git http-backend), one branch\n\n", files+apps, commits)
	fmt.Printf("| %-38s | %9s | %8s | %7s | %6s | %7s | %6s | %4s | %6s | %9s | %9s |\n",
		"scenario", "pushed in", "promo/s", "commits", "pushes", "retries", "failed", "lost", "forced", "vs 1/prom", "vs 1 all")
	fmt.Printf("|%s|\n", strings.Repeat("-", 150))
	for _, sc := range scenarios {
		var prof *os.File
		if profile != "" && sc.n == apps && sc.deliverers == 1 && sc.external == 0 {
			if prof, err = os.Create(profile); err != nil {
				return err
			}
			if err := pprof.StartCPUProfile(prof); err != nil {
				return err
			}
		}
		r, err := b.run(sc)
		if prof != nil {
			pprof.StopCPUProfile()
			prof.Close()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		fmt.Printf("| %-38s | %9s | %8.1f | %7d | %6d | %7d | %6d | %4d | %6d |",
			sc.name, r.wall.Round(time.Millisecond), float64(sc.n)/r.wall.Seconds(), r.commits, r.pushes, r.retries,
			r.failed, r.lost+r.externalLost, r.forced)
		if !sc.baseline {
			fmt.Println()
			continue
		}
		perPromotion, allInOne, err := b.baselines(sc.n)
		if err != nil {
			return err
		}
		fmt.Printf(" %9.3f | %9.2f |\n", float64(r.wall)/float64(perPromotion), float64(r.wall)/float64(allInOne))
		fmt.Printf("| %-38s | %9s | %8.1f |\n", fmt.Sprintf("  git CLI, %d commits and pushes%s", sc.n, scaled(sc.n, b.cliMax)), perPromotion.Round(time.Millisecond), float64(sc.n)/perPromotion.Seconds())
		fmt.Printf("| %-38s | %9s | %8.1f |\n", fmt.Sprintf("  git CLI, %d edits in one commit", sc.n), allInOne.Round(time.Millisecond), float64(sc.n)/allInOne.Seconds())
	}
	return nil
}

// bench is the repository the bursts go into.
type bench struct {
	dir, bare, url, updates string
	tag                     int
	runs                    int
	cliMax                  int
	// pushed counts each external committer's pushes in the current run.
	pushed []atomic.Int64
}

// run delivers a burst of sc.n Promotions, one per app, all at once, and
// checks the branch afterwards.
func (b *bench) run(sc scenario) (result, error) {
	b.tag++
	b.runs++
	tag := fmt.Sprintf("burst%d", b.tag)
	deliverers := make([]*gitdelivery.Deliverer, sc.deliverers)
	for i := range deliverers {
		deliverers[i] = gitdelivery.New(nil, filepath.Join(b.dir, fmt.Sprintf("cache-%d-%d", b.runs, i)), gitdelivery.StaticKey("bench-git commit key"))
		// A warm clone, as a running manager has.
		if _, _, err := deliverers[i].Delivered(context.Background(), request(burstEnv(b.url, 0), "warm")); err != nil {
			return result{}, fmt.Errorf("warm up: %w", err)
		}
	}
	_ = os.Remove(b.updates)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ext sync.WaitGroup
	extErrs := make(chan error, sc.external)
	b.pushed = make([]atomic.Int64, sc.external)
	for g := range sc.external {
		ext.Go(func() {
			if err := b.externalCommitter(ctx, g); err != nil && !errors.Is(err, context.Canceled) {
				extErrs <- err
			}
		})
	}
	// The burst starts once the external committers have pushed as many
	// times as there are of them: they race it from its first delivery
	// on. (Not each of them: twenty committers on one branch starve some.)
	for waited := time.Duration(0); sc.external > 0; waited += 50 * time.Millisecond {
		var total int64
		for g := range sc.external {
			total += b.pushed[g].Load()
		}
		if total >= int64(sc.external) {
			break
		}
		if waited > 2*time.Minute {
			return result{}, fmt.Errorf("the external committers pushed %d times in 2 minutes; want %d before the burst", total, sc.external)
		}
		time.Sleep(50 * time.Millisecond)
	}
	reqs := make([]delivery.Request, sc.n)
	for i := range reqs {
		reqs[i] = request(burstEnv(b.url, i), tag)
	}
	errs := make([]error, sc.n)
	var wg sync.WaitGroup
	start := time.Now()
	for i, req := range reqs {
		d := deliverers[i%len(deliverers)]
		wg.Go(func() { _, errs[i] = d.Deliver(context.Background(), req) })
	}
	wg.Wait()
	var r result
	r.wall = time.Since(start)
	cancel()
	ext.Wait()
	close(extErrs)
	for err := range extErrs {
		return r, err
	}
	for _, d := range deliverers {
		r.commits += d.Stats.Commits.Load()
		r.pushes += d.Stats.Pushes.Load()
		r.retries += d.Stats.PushRetries.Load()
	}
	for _, err := range errs {
		if err != nil {
			r.failed++
			if r.failed == 1 {
				fmt.Fprintln(os.Stderr, "first failed delivery:", err)
			}
		}
	}
	var err error
	if r.lost, r.externalLost, err = b.check(sc, tag); err != nil {
		return r, err
	}
	r.forced, err = b.forced()
	return r, err
}

// check counts the apps whose file at the head lost its new tag, and the
// external commits missing from the head.
func (b *bench) check(sc scenario, tag string) (lost, externalLost int, err error) {
	repo, err := gogit.PlainOpen(b.bare)
	if err != nil {
		return 0, 0, err
	}
	ref, err := repo.Reference(plumbing.NewBranchReferenceName("main"), true)
	if err != nil {
		return 0, 0, err
	}
	head, err := repo.CommitObject(ref.Hash())
	if err != nil {
		return 0, 0, err
	}
	for i := range sc.n {
		f, err := head.File(fmt.Sprintf("apps/app-%d/kustomization.yaml", i))
		if err != nil {
			return 0, 0, err
		}
		if s, _ := f.Contents(); !strings.Contains(s, "newTag: "+tag+"\n") {
			lost++
		}
	}
	for g := range sc.external {
		// Only a commit that reached the server can be lost; a committer
		// stopped before its first push succeeded left nothing there.
		if b.pushed[g].Load() == 0 {
			continue
		}
		if _, err := head.File(fmt.Sprintf("external/%d-%d.txt", b.runs, g)); err != nil {
			externalLost++
		}
	}
	return lost, externalLost, nil
}

// forced counts the updates of main the hook logged that were not
// fast-forwards.
func (b *bench) forced() (int, error) {
	data, err := os.ReadFile(b.updates)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		oldNew := strings.Fields(line)
		if len(oldNew) != 2 {
			return 0, fmt.Errorf("update log line %q", line)
		}
		if git(b.bare, "merge-base", "--is-ancestor", oldNew[0], oldNew[1]) != nil {
			n++
		}
	}
	return n, nil
}

// externalCommitter commits files of its own to main until ctx ends,
// fetching and rebasing its one commit when its push loses a race.
func (b *bench) externalCommitter(ctx context.Context, g int) error {
	work := filepath.Join(b.dir, fmt.Sprintf("external-%d-%d", b.runs, g))
	if err := git("", "clone", "--quiet", "--depth", "1", "--branch", "main", b.url, work); err != nil {
		return err
	}
	name := fmt.Sprintf("external/%d-%d.txt", b.runs, g)
	if err := os.MkdirAll(filepath.Join(work, "external"), 0o755); err != nil {
		return err
	}
	for i := 0; ; i++ {
		if err := os.WriteFile(filepath.Join(work, name), []byte(fmt.Sprintf("%d\n", i)), 0o644); err != nil {
			return err
		}
		if err := git(work, "add", name); err != nil {
			return err
		}
		if err := git(work, "commit", "--quiet", "-m", "external "+name); err != nil {
			return err
		}
		for git(work, "push", "--quiet", "origin", "HEAD:main") != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err := git(work, "fetch", "--quiet", "origin", "main"); err != nil {
				return err
			}
			if err := git(work, "rebase", "--quiet", "origin/main"); err != nil {
				return err
			}
		}
		b.pushed[g].Add(1)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// baselines times the git CLI on a cached clone: one commit and push per
// promotion, and every edit in one commit and one push.
func (b *bench) baselines(n int) (perPromotion, allInOne time.Duration, err error) {
	work := filepath.Join(b.dir, fmt.Sprintf("baseline-%d", b.runs))
	if err := git("", "clone", "--quiet", "--depth", "1", "--branch", "main", b.url, work); err != nil {
		return 0, 0, err
	}
	edit := func(i int, tag string) error {
		return os.WriteFile(filepath.Join(work, fmt.Sprintf("apps/app-%d/kustomization.yaml", i)), []byte(kustomizationText(tag)), 0o644)
	}
	// commit edits the apps from first to last on the fetched head, in one
	// commit and one push.
	commit := func(first, last int, tag string) error {
		if err := git(work, "fetch", "--quiet", "origin", "main"); err != nil {
			return err
		}
		if err := git(work, "reset", "--quiet", "--hard", "origin/main"); err != nil {
			return err
		}
		for i := first; i <= last; i++ {
			if err := edit(i, tag); err != nil {
				return err
			}
		}
		if err := git(work, "commit", "--quiet", "-am", "promote "+tag); err != nil {
			return err
		}
		return git(work, "push", "--quiet", "origin", "HEAD:main")
	}
	b.tag++
	tag := fmt.Sprintf("cli%d", b.tag)
	start := time.Now()
	measured := min(n, b.cliMax)
	for i := range measured {
		if err := commit(i, i, tag); err != nil {
			return 0, 0, err
		}
	}
	// One commit and push per promotion costs the same each time: beyond
	// -cli-max it is scaled from the ones measured.
	perPromotion = time.Since(start) * time.Duration(n) / time.Duration(measured)
	b.tag++
	start = time.Now()
	if err := commit(0, n-1, fmt.Sprintf("cli%d", b.tag)); err != nil {
		return 0, 0, err
	}
	return perPromotion, time.Since(start), nil
}

func scaled(n, cliMax int) string {
	if n <= cliMax {
		return ""
	}
	return fmt.Sprintf(" (x%d/%d)", n, cliMax)
}
