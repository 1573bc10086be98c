// Command bench-git measures Baton's git delivery, from "deliver" to
// "pushed", against the git CLI on the same repository in the same run:
// one delivery at a time as the controller asked for it before group
// commits (Delivered, then Deliver), and with -burst, bursts of deliveries
// into one branch (burst.go).
//
// It generates a repository of 2,000 files and 2,001 commits, serves it over
// loopback smart HTTP with `git http-backend`, and prints a table of medians
// and Baton's ratios to two baselines: a fresh shallow clone, and a cached
// clone that fetches and resets. The git CLI is used for the baselines and
// the fixture only.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/delivery"
	"github.com/baton-dev/baton/internal/gitdelivery"
)

const kustomization = "env/production/kustomization.yaml"

// burst, set by burst.go, measures bursts of deliveries.
var burst func(sizes string, files, commits int, profile string, cliMax int) error

func main() {
	runs := flag.Int("n", 9, "measured deliveries per method")
	files := flag.Int("files", 2000, "files in the generated repository")
	commits := flag.Int("commits", 2001, "commits in the generated repository")
	bursts := flag.String("burst", "", "comma-separated burst sizes (e.g. 50,200,1000): measure group commits instead (burst.go)")
	profile := flag.String("cpuprofile", "", "with -burst, write a CPU profile of the largest burst here")
	cliMax := flag.Int("cli-max", 100, "with -burst, at most this many one-commit-per-promotion git CLI pushes are timed; more are scaled from them")
	flag.Parse()
	if *bursts != "" && burst != nil {
		if err := burst(*bursts, *files, *commits, *profile, *cliMax); err != nil {
			fmt.Fprintln(os.Stderr, "bench-git:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*runs, *files, *commits); err != nil {
		fmt.Fprintln(os.Stderr, "bench-git:", err)
		os.Exit(1)
	}
}

func run(n, files, commits int) error {
	dir, err := os.MkdirTemp("", "bench-git-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bare := filepath.Join(dir, "srv", "config.git")
	start := time.Now()
	if err := generate(bare, files, commits, 0); err != nil {
		return fmt.Errorf("generate the repository: %w", err)
	}
	fmt.Printf("generated %d files, %d commits in %s\n", files, commits, time.Since(start).Round(time.Millisecond))

	url, stop, err := serve(filepath.Dir(bare))
	if err != nil {
		return err
	}
	defer stop()
	url += "/config.git"

	tag := 0
	next := func() string { tag++; return fmt.Sprintf("v%d", tag) }

	// Baton: one warm-up delivery makes the cached clone, as the first
	// Promotion after a restart does; the rest are measured.
	d := gitdelivery.New(nil, filepath.Join(dir, "baton-cache"), gitdelivery.StaticKey("bench-git commit key"))
	e := environment(url)
	if _, err := d.Deliver(context.Background(), request(e, next())); err != nil {
		return fmt.Errorf("baton warm-up: %w", err)
	}
	// The path the controller took one Promotion at a time: Delivered,
	// then Deliver.
	baton, err := measure(n, func() error {
		req := request(e, next())
		if _, done, err := d.Delivered(context.Background(), req); err != nil || done {
			return fmt.Errorf("delivered: %v, %w", done, err)
		}
		_, err := d.Deliver(context.Background(), req)
		return err
	})
	if err != nil {
		return fmt.Errorf("baton: %w", err)
	}

	fresh, warm, err := measureGit(n, dir, url, next)
	if err != nil {
		return err
	}

	fmt.Printf("\n%d files, %d commits, loopback smart HTTP (git http-backend), %d runs each, median\n\n", files, commits, n)
	fmt.Printf("| %-54s | %10s | %14s |\n", "method (deliver -> pushed)", "median", "Baton / this")
	fmt.Printf("|%s|%s|%s|\n", strings.Repeat("-", 56), strings.Repeat("-", 12), strings.Repeat("-", 16))
	row := func(name string, m time.Duration) {
		fmt.Printf("| %-54s | %10s | %14.2f |\n", name, m.Round(100*time.Microsecond), float64(baton)/float64(m))
	}
	row("Baton, Delivered + Deliver on its cached go-git clone", baton)
	row("git CLI, fresh clone --depth 1 + edit + commit + push", fresh)
	row("git CLI, cached clone fetch + reset --hard + ... push", warm)
	return nil
}

// measureGit times the git CLI doing what Baton does: from a fresh shallow
// clone each time, and from one cached clone.
func measureGit(n int, dir, url string, next func() string) (fresh, warm time.Duration, err error) {
	fresh, err = measure(n, func() error {
		work, err := os.MkdirTemp(dir, "fresh-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(work)
		if err := git("", "clone", "--quiet", "--depth", "1", "--single-branch", "--branch", "main", url, work); err != nil {
			return err
		}
		return editCommitPush(work, next())
	})
	if err != nil {
		return 0, 0, fmt.Errorf("git fresh clone: %w", err)
	}

	cached := filepath.Join(dir, "cached")
	if err := git("", "clone", "--quiet", "--depth", "1", "--single-branch", "--branch", "main", url, cached); err != nil {
		return 0, 0, err
	}
	warm, err = measure(n, func() error {
		if err := git(cached, "fetch", "--quiet", "origin", "main"); err != nil {
			return err
		}
		if err := git(cached, "reset", "--quiet", "--hard", "origin/main"); err != nil {
			return err
		}
		return editCommitPush(cached, next())
	})
	if err != nil {
		return 0, 0, fmt.Errorf("git cached clone: %w", err)
	}

	return fresh, warm, nil
}

func measure(n int, f func() error) (time.Duration, error) {
	var ds []time.Duration
	for range n {
		start := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

func git(dir string, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@example.com",
		"GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@example.com", "GIT_TERMINAL_PROMPT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// editCommitPush does by hand what Baton does: one line of the
// kustomization, one commit, one push.
func editCommitPush(work, tag string) error {
	path := filepath.Join(work, kustomization)
	if err := os.WriteFile(path, []byte(kustomizationText(tag)), 0o644); err != nil {
		return err
	}
	if err := git(work, "commit", "--quiet", "-am", "promote "+tag); err != nil {
		return err
	}
	return git(work, "push", "--quiet", "origin", "HEAD:main")
}

func kustomizationText(tag string) string {
	return "resources:\n  - deployment.yaml\nimages:\n  - name: registry.example/web\n    newTag: " + tag + "\n"
}

// generate writes the fixture with git fast-import: the first commit adds
// every file (and apps/app-<i>/kustomization.yaml for i < apps), and each
// later commit changes one of them.
func generate(bare string, files, commits, apps int) error {
	if err := git("", "init", "--quiet", "--bare", "--initial-branch=main", bare); err != nil {
		return err
	}
	if err := git(bare, "config", "http.receivepack", "true"); err != nil {
		return err
	}
	var b strings.Builder
	when := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	commit := func(i int, msg string, body func()) {
		fmt.Fprintf(&b, "commit refs/heads/main\nmark :%d\ncommitter Dev <dev@example.com> %d +0000\ndata %d\n%s\n", i+1, when+int64(i), len(msg), msg)
		if i > 0 {
			fmt.Fprintf(&b, "from :%d\n", i)
		}
		body()
		b.WriteString("\n")
	}
	inline := func(path, content string) {
		fmt.Fprintf(&b, "M 644 inline %s\ndata %d\n%s\n", path, len(content), content)
	}
	commit(0, "initial", func() {
		inline(kustomization, kustomizationText("v0"))
		inline("env/production/deployment.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n")
		for i := range apps {
			inline(fmt.Sprintf("apps/app-%d/kustomization.yaml", i), kustomizationText("v0"))
		}
		for f := 2; f < files; f++ {
			inline(fmt.Sprintf("apps/app%03d/config-%04d.yaml", f%100, f), fmt.Sprintf("name: file-%d\nvalue: 0\n", f))
		}
	})
	for i := 1; i < commits; i++ {
		f := 2 + i%(files-2)
		commit(i, fmt.Sprintf("change %d", i), func() {
			inline(fmt.Sprintf("apps/app%03d/config-%04d.yaml", f%100, f), fmt.Sprintf("name: file-%d\nvalue: %d\n", f, i))
		})
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = bare
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git fast-import: %w: %s", err, out)
	}
	return git(bare, "gc", "--quiet")
}

// serve serves the repositories under root with git http-backend over
// loopback.
func serve(root string) (string, func(), error) {
	exe, err := exec.LookPath("git")
	if err != nil {
		return "", nil, err
	}
	handler := &cgi.Handler{Path: exe, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=bench"}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

func environment(url string) *batonv1alpha1.Environment {
	return &batonv1alpha1.Environment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: "production"},
		Spec: batonv1alpha1.EnvironmentSpec{Delivery: batonv1alpha1.Delivery{Git: &batonv1alpha1.GitDelivery{
			URL: url, Branch: "main", Path: "env/production",
			Edit: &batonv1alpha1.ManifestEdit{Kustomize: &batonv1alpha1.KustomizeEdit{ImageName: "registry.example/web"}},
		}}},
	}
}

var seq int

func request(e *batonv1alpha1.Environment, tag string) delivery.Request {
	seq++
	promo := &batonv1alpha1.Promotion{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: fmt.Sprintf("web-%d", seq), UID: types.UID(fmt.Sprintf("bench-%d", seq))},
		Status:     batonv1alpha1.PromotionStatus{Revision: int64(seq)},
	}
	return delivery.Request{Environment: e, Promotion: promo, Image: "registry.example/web:" + tag, RequestedBy: "bench"}
}
