package procs

import (
	"net"
	"strconv"
	"time"
)

// Default port bases: `make dev` and `make test-e2e` (DEV_PORT_BASE and
// E2E_PORT_BASE in the Makefile).
const (
	DefaultDevBase = 17400
	DefaultE2EBase = 17500
)

// Offsets from a cluster's port base. Everything binds 127.0.0.1 only.
// hack/dev/dev.sh and merge.sh read the manager's and the Git server's from
// `cluster ports`.
const (
	EtcdClient = iota
	EtcdPeer
	APIServer
	ControllerManager
	Scheduler
	Kwok
	// The manager's ports, which dev.sh passes to it; listed so that
	// `cluster down` checks them too.
	Webhook
	Metrics
	Probes
	Hooks
	// GitServer is the smart-HTTP server of the bare repositories under
	// <dir>/git (the config repository of GITOPS=flux, and the e2e suites'),
	// which dev.sh starts as the process "gitserver".
	GitServer
	// Count is how many ports a cluster without Flux uses.
	Count
)

// The Flux controllers of `make dev GITOPS=flux`: source-controller's
// artifact server, metrics and health probes, then kustomize-controller's
// metrics and health probes. They follow Count, so that a cluster without
// Flux never claims them.
const (
	FluxStorage = Count + iota
	FluxSourceMetrics
	FluxSourceHealth
	FluxKustomizeMetrics
	FluxKustomizeHealth
	// FluxEnd is how many ports a cluster with Flux uses.
	FluxEnd
)

// The sample application, which serves real HTTP as the image each
// Deployment runs, and the Prometheus that scrapes it every second: dev.sh
// starts both as "sampleapp" and "prometheus" (docs/verification.md).
const (
	SampleApp = FluxEnd + iota
	Prometheus
	// Gitea hosts the sample application's repository (HTTPS, API and
	// Git), whose push webhooks drive staging: dev.sh starts it as "gitea"
	// (docs/dev-cluster.md).
	Gitea
	// End is how many ports a cluster with everything uses.
	End
)

// Names are the shell variables `cluster ports` prints for each offset
// that a script needs.
var Names = []struct {
	Name   string
	Offset int
}{
	{"WEBHOOK_PORT", Webhook}, {"METRICS_PORT", Metrics}, {"PROBE_PORT", Probes}, {"HOOKS_PORT", Hooks}, {"GIT_PORT", GitServer},
	{"FLUX_STORAGE_PORT", FluxStorage}, {"FLUX_SOURCE_METRICS_PORT", FluxSourceMetrics}, {"FLUX_SOURCE_HEALTH_PORT", FluxSourceHealth},
	{"FLUX_KUSTOMIZE_METRICS_PORT", FluxKustomizeMetrics}, {"FLUX_KUSTOMIZE_HEALTH_PORT", FluxKustomizeHealth},
	{"SAMPLEAPP_PORT", SampleApp}, {"PROMETHEUS_PORT", Prometheus}, {"GITEA_PORT", Gitea},
}

// Ports is a cluster's layout: its base port.
type Ports int

// Port is the port at offset.
func (p Ports) Port(offset int) int { return int(p) + offset }

// Addr is 127.0.0.1:<the port at offset>.
func (p Ports) Addr(offset int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port(offset)))
}

// Accepts reports whether something accepts TCP connections on addr.
func Accepts(addr string, timeout time.Duration) bool {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// Listening reports whether something accepts connections on
// 127.0.0.1:port.
func Listening(port int) bool {
	return Accepts(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 300*time.Millisecond)
}
