package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A process the dev cluster runs in the background. Its state lives in
// <dir>/<name>/: the pid file "pid" and the log "<name>.log". It is started
// in its own session, so it outlives this command and a Ctrl-C in the
// terminal that ran `make dev`; `down` stops it by its pid.
type proc struct {
	name string
	dir  string // the cluster's directory
}

func (p proc) stateDir() string { return filepath.Join(p.dir, p.name) }
func (p proc) pidFile() string  { return filepath.Join(p.stateDir(), "pid") }
func (p proc) logFile() string  { return filepath.Join(p.stateDir(), p.name+".log") }

// pid returns the process recorded in the pid file if it is still running and
// is still ours: its command line must mention the cluster's directory, so
// that a pid reused by an unrelated process is never signalled.
func (p proc) pid() (int, bool) {
	b, err := os.ReadFile(p.pidFile())
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, alive(pid) && ownedBy(pid, p.dir)
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses; a zombie has exited.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

func ownedBy(pid int, dir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Contains(b, []byte(dir))
}

// start runs the command detached, appending to its log.
func (p proc) start(bin string, args ...string) (int, error) {
	if err := os.MkdirAll(p.stateDir(), 0o700); err != nil {
		return 0, err
	}
	log, err := os.OpenFile(p.logFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer log.Close()
	fmt.Fprintf(log, "\n==== %s starting %s %s\n", time.Now().Format(time.RFC3339), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", p.name, err)
	}
	pid := cmd.Process.Pid
	if err := os.WriteFile(p.pidFile(), []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		_ = cmd.Process.Kill()
		return 0, err
	}
	// Reap it if it dies while this command still runs; otherwise init does.
	go func() { _ = cmd.Wait() }()
	return pid, nil
}

// stop sends SIGTERM, waits up to grace, then SIGKILL. It returns whether
// something was running.
func (p proc) stop(grace time.Duration) (bool, error) {
	pid, ok := p.pid()
	if !ok {
		_ = os.Remove(p.pidFile())
		return false, nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return true, fmt.Errorf("stop %s (pid %d): %w", p.name, pid, err)
	}
	deadline := time.Now().Add(grace)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		for i := 0; alive(pid) && i < 100; i++ {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(pid) {
			return true, fmt.Errorf("%s (pid %d) survived SIGKILL", p.name, pid)
		}
	}
	_ = os.Remove(p.pidFile())
	return true, nil
}

// rssKiB is the resident set of the process, from /proc/<pid>/status.
func rssKiB(pid int) int {
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

// listening reports whether something accepts connections on 127.0.0.1:port.
func listening(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 300*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}
