package procs

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// Listeners returns the TCP addresses that the given processes listen on,
// read from /proc/net/tcp{,6} and the processes' socket file descriptors.
func Listeners(pids map[int]string) ([]string, error) {
	inodes := map[string]bool{}
	for pid := range pids {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if err == nil && strings.HasPrefix(link, "socket:[") {
				inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
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
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: LISTEN
				continue
			}
			addr, err := decodeAddr(f[1])
			if err != nil {
				return nil, err
			}
			addrs = append(addrs, addr)
		}
	}
	return addrs, nil
}

// decodeAddr turns /proc/net/tcp's "0100007F:1F90" into "127.0.0.1:8080".
func decodeAddr(s string) (string, error) {
	hexIP, hexPort, _ := strings.Cut(s, ":")
	port, err := strconv.ParseUint(hexPort, 16, 16)
	if err != nil {
		return "", fmt.Errorf("parse %q: %w", s, err)
	}
	raw := make([]byte, len(hexIP)/2)
	for i := range raw {
		v, err := strconv.ParseUint(hexIP[2*i:2*i+2], 16, 8)
		if err != nil {
			return "", fmt.Errorf("parse %q: %w", s, err)
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
	return net.JoinHostPort(ip.String(), strconv.FormatUint(port, 10)), nil
}
