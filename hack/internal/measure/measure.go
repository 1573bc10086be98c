// Package measure reads what the programs in hack/ report of a process:
// its heap after GC and its resident set, and a child's last output line.
package measure

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// HeapInUse is the heap in use after two garbage collections.
func HeapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// RSS is the process's resident set, from /proc/self/status; 0 when
// unknown.
func RSS() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// LastLine is the last non-empty line of a child's output, where it prints
// its measurement.
func LastLine(b []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return lines[len(lines)-1]
}
