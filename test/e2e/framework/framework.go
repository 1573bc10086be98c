package framework

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Users are the dev cluster's users; each has DIR/<user>.kubeconfig.
var Users = []string{"admin", "alice", "bob", "carol", "oncall"}

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
	base := 17500
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
func ProcessesUnder(dir string) map[int]string {
	found := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(dir)) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && zombie(stat) {
			continue // exited, waiting to be reaped
		}
		found[pid] = strings.ReplaceAll(string(bytes.TrimRight(cmdline, "\x00")), "\x00", " ")
	}
	return found
}

// Listeners returns the TCP addresses the given processes listen on, read
// from /proc/net/tcp{,6} and the processes' socket file descriptors.
func Listeners(t T, pids map[int]string) []string {
	t.Helper()
	inodes := map[string]int{}
	for pid := range pids {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if err == nil && strings.HasPrefix(link, "socket:[") {
				inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = pid
			}
		}
	}
	var addrs []string
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			// sl local_address rem_address st ... inode (field 9)
			if len(f) < 10 || f[3] != "0A" { // 0A: LISTEN
				continue
			}
			if _, ours := inodes[f[9]]; !ours {
				continue
			}
			addrs = append(addrs, decodeAddr(t, f[1]))
		}
	}
	return addrs
}

// decodeAddr turns /proc/net/tcp's "0100007F:1F90" into "127.0.0.1:8080".
func decodeAddr(t T, s string) string {
	t.Helper()
	hexIP, hexPort, _ := strings.Cut(s, ":")
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	raw := make([]byte, len(hexIP)/2)
	for i := range raw {
		v, err := strconv.ParseUint(hexIP[2*i:2*i+2], 16, 8)
		if err != nil {
			t.Fatalf("parse %q: %v", s, err)
		}
		raw[i] = byte(v)
	}
	// The kernel prints each 32-bit word in host (little-endian) order.
	for w := 0; w+4 <= len(raw); w += 4 {
		raw[w], raw[w+1], raw[w+2], raw[w+3] = raw[w+3], raw[w+2], raw[w+1], raw[w]
	}
	ip := net.IP(raw)
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	return net.JoinHostPort(ip.String(), strconv.FormatUint(port, 10))
}

// AssertAllGone fails unless no process mentions dir and no address in addrs
// accepts connections.
func AssertAllGone(t T, dir string, addrs []string) {
	t.Helper()
	if left := ProcessesUnder(dir); len(left) > 0 {
		t.Errorf("processes left behind after shutdown: %v", left)
	}
	for _, a := range addrs {
		if c, err := net.DialTimeout("tcp", a, 500*time.Millisecond); err == nil {
			_ = c.Close()
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
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				n, _ := strconv.Atoi(f[1])
				total += n
			}
		}
	}
	return total / 1024
}

// IsZombie reports whether pid has exited (or is gone) and only waits to be
// reaped.
func IsZombie(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err != nil || zombie(stat)
}

// zombie reads the state field of /proc/<pid>/stat, which follows the
// command name in parentheses.
func zombie(stat []byte) bool {
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}
