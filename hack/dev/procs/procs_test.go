package procs

import (
	"fmt"
	"net"
	"os"
	"slices"
	"testing"
	"time"
)

func TestExitedState(t *testing.T) {
	cases := map[string]bool{
		"42 (etcd) S 1 42":            false,
		"42 (kube-apiserver) R 1 42":  false,
		"42 (sleep) Z 1 42":           true,
		"42 (sleep) X 1 42":           true,
		"42 (odd) name) S 1 42":       false, // the name may hold ')'
		"42 (odd) name) Z 1 42":       true,
		"42 (truncated":               true,
		"":                            true,
		"42 (kube-controller) D 1 42": false,
	}
	for stat, want := range cases {
		if got := exitedState([]byte(stat)); got != want {
			t.Errorf("exitedState(%q) = %v, want %v", stat, got, want)
		}
	}
	if Exited(os.Getpid()) {
		t.Error("this test's own process counts as exited")
	}
}

func TestDecodeAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"00000000:4457":                         "0.0.0.0:17495",
		"00000000000000000000000001000000:1F90": "[::1]:8080",
	} {
		if got, err := decodeAddr(in); err != nil || got != want {
			t.Errorf("decodeAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := decodeAddr("zz:1"); err == nil {
		t.Error("decodeAddr accepted garbage")
	}
}

func TestBackgroundStartFindStop(t *testing.T) {
	dir := t.TempDir()
	p := Background{Name: "sleeper", Dir: dir}
	// The command line must mention dir, as the cluster's always do. The
	// shell must stay the process: given one simple command, sh execs it in
	// place, and the command line no longer mentions dir.
	pid, err := p.Start("/bin/sh", "-c", "sleep 30; exit 0", dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := p.PID(); !ok || got != pid {
		cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		t.Fatalf("PID() = %d, %v; want %d (%q %q %q)", got, ok, pid, cl, st, dir)
	}
	if _, ok := Under(dir)[pid]; !ok {
		t.Fatalf("Under(%s) = %v, lacks %d", dir, Under(dir), pid)
	}
	if RSSKiB(pid) <= 0 {
		t.Error("no resident set for a running process")
	}
	if stopped, err := p.Stop(5 * time.Second); err != nil || !stopped {
		t.Fatalf("Stop = %v, %v", stopped, err)
	}
	if !Exited(pid) || len(Under(dir)) != 0 {
		t.Fatalf("after Stop: exited %v, under %v", Exited(pid), Under(dir))
	}
	if stopped, err := p.Stop(time.Second); err != nil || stopped {
		t.Fatalf("a second Stop = %v, %v; want nothing to stop", stopped, err)
	}
}

func TestListenersAndPorts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addrs, err := Listeners(map[int]string{os.Getpid(): "test"})
	if err != nil || !slices.Contains(addrs, l.Addr().String()) {
		t.Fatalf("Listeners = %v, %v; want %s among them", addrs, err, l.Addr())
	}
	port := l.Addr().(*net.TCPAddr).Port
	ports := Ports(port - Hooks)
	if !Listening(ports.Port(Hooks)) || ports.Addr(Hooks) != l.Addr().String() {
		t.Errorf("Ports(%d): Hooks at %s, listening %v", port-Hooks, ports.Addr(Hooks), Listening(ports.Port(Hooks)))
	}
}
