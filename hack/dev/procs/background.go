package procs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Background is a process a cluster runs in the background. Its state
// lives in <Dir>/<Name>/: the pid file "pid" and the log "<Name>.log". It is
// started in its own session, so it outlives the command that started it
// and a Ctrl-C in its terminal; Stop ends it by its pid.
type Background struct {
	Name string
	Dir  string // the cluster's directory
}

// StateDir holds the pid file, the log and whatever else the process keeps.
func (p Background) StateDir() string { return filepath.Join(p.Dir, p.Name) }
func (p Background) pidFile() string  { return filepath.Join(p.StateDir(), "pid") }

// LogFile is where the process's output goes.
func (p Background) LogFile() string { return filepath.Join(p.StateDir(), p.Name+".log") }

// PID returns the process recorded in the pid file if it is still running
// and is still ours: its command line must mention the cluster's directory,
// so that a pid reused by an unrelated process is never signalled.
func (p Background) PID() (int, bool) {
	b, err := os.ReadFile(p.pidFile())
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, !Exited(pid) && OwnedBy(pid, p.Dir)
}

// Start runs the command detached, appending to its log.
func (p Background) Start(bin string, args ...string) (int, error) {
	if err := os.MkdirAll(p.StateDir(), 0o700); err != nil {
		return 0, err
	}
	log, err := os.OpenFile(p.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer log.Close()
	fmt.Fprintf(log, "\n==== %s starting %s %s\n", time.Now().Format(time.RFC3339), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", p.Name, err)
	}
	pid := cmd.Process.Pid
	if err := os.WriteFile(p.pidFile(), []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		_ = cmd.Process.Kill()
		return 0, err
	}
	// Reap it if it dies while this command still runs; otherwise init does.
	go func() { _ = cmd.Wait() }()
	waitCmdline(pid, 2*time.Second)
	return pid, nil
}

// waitCmdline waits, for at most d, until pid's command line can be read.
// Start returns once exec has begun, and for a moment after that the kernel
// shows an empty command line, so PID would not yet know the process as
// ours.
func waitCmdline(pid int, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && !Exited(pid) {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && len(b) > 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// Stop sends SIGTERM, waits up to grace, then SIGKILL. It reports whether
// something was running.
func (p Background) Stop(grace time.Duration) (bool, error) {
	pid, ok := p.PID()
	if !ok {
		_ = os.Remove(p.pidFile())
		return false, nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return true, fmt.Errorf("stop %s (pid %d): %w", p.Name, pid, err)
	}
	if !waitExit(pid, grace) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		if !waitExit(pid, 5*time.Second) {
			return true, fmt.Errorf("%s (pid %d) survived SIGKILL", p.Name, pid)
		}
	}
	_ = os.Remove(p.pidFile())
	return true, nil
}

// waitExit polls until pid has exited, for at most d.
func waitExit(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !Exited(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}
