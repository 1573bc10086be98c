package testenv

import (
	"bytes"
	"sync"
)

// LockedBuffer collects log lines written from many goroutines (a
// manager's reconcilers, a webhook), for a test to read back: that a line
// appears, or that a secret never does.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
