//go:build e2e

package devcluster

import (
	"context"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/baton-dev/baton/test/e2e/framework"
)

// The helpers live in test/e2e/framework, shared with the Ginkgo suite.
var users = framework.Users

func repoRoot(t *testing.T) string                  { return framework.RepoRoot(t) }
func binDirs(t *testing.T) (assets, cluster string) { return framework.BinDirs(t) }
func portBase(t *testing.T, offset int) int         { return framework.PortBase(t, offset) }
func restConfig(t *testing.T, dir, user string) *rest.Config {
	return framework.RestConfig(t, dir, user)
}
func processesUnder(dir string) map[int]string             { return framework.ProcessesUnder(dir) }
func listeners(t *testing.T, pids map[int]string) []string { return framework.Listeners(t, pids) }
func assertAllGone(t *testing.T, dir string, addrs []string) {
	framework.AssertAllGone(t, dir, addrs)
}
func killLeftovers(t *testing.T, dir string) { framework.KillLeftovers(t, dir) }
func rssMiB(pids map[int]string) int         { return framework.RSSMiB(pids) }

func run(t *testing.T, ctx context.Context, dir string, env []string, name string, args ...string) string {
	t.Helper()
	return framework.Run(t, ctx, dir, env, name, args...)
}
