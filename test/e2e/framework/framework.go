package framework

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/baton-dev/baton/hack/dev/procs"
)

// Users are the dev cluster's users; each has DIR/<user>.kubeconfig.
var Users = []string{"admin", "alice", "bob", "carol", "oncall", "mallory"}

// T is what the helpers need of a test: *testing.T and GinkgoT() both are.
type T interface {
	Helper()
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// RepoRoot is two levels up from the test package: test/e2e and
// test/devcluster both are.
func RepoRoot(t T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatalf("%v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "hack", "dev", "cluster", "main.go")); err != nil {
		t.Fatalf("not the Baton repository: %v", err)
	}
	return root
}

// BinDirs returns the Makefile's K8S_ASSETS and K8S_CLUSTER.
func BinDirs(t T) (assets, cluster string) {
	t.Helper()
	assets, cluster = os.Getenv("K8S_ASSETS"), os.Getenv("K8S_CLUSTER")
	if assets == "" || cluster == "" {
		t.Fatalf("K8S_ASSETS and K8S_CLUSTER are not set: run these tests with `make test-e2e`")
	}
	return assets, cluster
}

// PortBase is E2E_PORT_BASE plus offset, so that each test has its own ports.
func PortBase(t T, offset int) int {
	t.Helper()
	base := procs.DefaultE2EBase
	if s := os.Getenv("E2E_PORT_BASE"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("E2E_PORT_BASE=%q: %v", s, err)
		}
		base = n
	}
	return base + offset
}

// Run runs a command in the repository, streaming its output to the test log
// and failing the test if it fails.
func Run(t T, ctx context.Context, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("$ %s %s\n%s", name, strings.Join(args, " "), out.String())
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out.String()
}

func RestConfig(t T, dir, user string) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, user+".kubeconfig"))
	if err != nil {
		t.Fatalf("kubeconfig of %s: %v", user, err)
	}
	return cfg
}

// ProcessesUnder lists the pids of every running process whose command line
// mentions dir: what the cluster started and nothing else.
func ProcessesUnder(dir string) map[int]string { return procs.Under(dir) }

// Listeners returns the TCP addresses the given processes listen on.
func Listeners(t T, pids map[int]string) []string {
	t.Helper()
	addrs, err := procs.Listeners(pids)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return addrs
}

// AssertAllGone fails unless no process mentions dir and no address in addrs
// accepts connections.
func AssertAllGone(t T, dir string, addrs []string) {
	t.Helper()
	if left := ProcessesUnder(dir); len(left) > 0 {
		t.Errorf("processes left behind after shutdown: %v", left)
	}
	for _, a := range addrs {
		if procs.Accepts(a, 500*time.Millisecond) {
			t.Errorf("%s still accepts connections after shutdown", a)
		}
	}
}

// KillLeftovers is the last line of defence of a failed test: it kills
// whatever still runs from dir, so that no test leaves processes behind, and
// fails the test if there was any.
func KillLeftovers(t T, dir string) {
	t.Helper()
	left := ProcessesUnder(dir)
	for pid, cmd := range left {
		t.Errorf("killing pid %d left behind: %s", pid, cmd)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// RSSMiB sums VmRSS over the processes.
func RSSMiB(pids map[int]string) int {
	total := 0
	for pid := range pids {
		total += procs.RSSKiB(pid)
	}
	return total / 1024
}

// IsZombie reports whether pid has exited (or is gone) and only waits to be
// reaped.
func IsZombie(pid int) bool { return procs.Exited(pid) }
