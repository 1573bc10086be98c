//go:build tools

// Package tools pins Prometheus, built from the Go module proxy for the dev
// and e2e clusters' verification checks (docs/verification.md).
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
)
