package procs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Exited reports whether pid is gone, or has exited and only waits to be
// reaped: its state in /proc/<pid>/stat is Z (zombie) or X (dead).
func Exited(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err != nil || exitedState(stat)
}

// exitedState reads the state field of /proc/<pid>/stat, which follows the
// command name in parentheses.
func exitedState(stat []byte) bool {
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i <= 0 || i+2 >= len(s) {
		return true
	}
	return s[i+2] == 'Z' || s[i+2] == 'X'
}

// OwnedBy reports whether pid's command line mentions dir: how a cluster
// tells its own processes from an unrelated one that reused a pid.
func OwnedBy(pid int, dir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Contains(b, []byte(dir))
}

// Under lists the running processes whose command line mentions dir, with
// their command lines: what a cluster under dir started, and nothing else.
func Under(dir string) map[int]string {
	found := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(dir)) || Exited(pid) {
			continue
		}
		found[pid] = strings.ReplaceAll(string(bytes.TrimRight(cmdline, "\x00")), "\x00", " ")
	}
	return found
}

// RSSKiB is the resident set of pid, from /proc/<pid>/status; 0 when it is
// gone.
func RSSKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}
