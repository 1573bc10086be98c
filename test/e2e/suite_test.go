//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/hack/dev/procs"
	"github.com/baton-dev/baton/test/e2e/framework"
)

// portOffset puts the suite's cluster on E2E_PORT_BASE+40..+49, beside
// test/devcluster's two clusters (+0 and +20).
const portOffset = 40

// ns is where `make dev` lets the users work: their RoleBindings are there.
const ns = "web"

var (
	root     string // the repository
	dir      string // the cluster's state: kubeconfigs, pid files, logs
	base     int    // its first port
	bin      string // the Makefile's BIN: manager, kubectl-promote, dev-cluster
	kubectl  string
	addrs    []string // what the cluster and the manager listen on
	suiteCtx context.Context

	admin, alice, bob, carol, oncall client.Client

	suiteFailed bool // keep the cluster's logs for a look
)

var _ = AfterEach(func() {
	if CurrentSpecReport().Failed() {
		suiteFailed = true
	}
})

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Baton e2e")
}

var _ = BeforeSuite(func() {
	t := GinkgoT()
	root = framework.RepoRoot(t)
	_, clusterBin := framework.BinDirs(t)
	kubectl = filepath.Join(clusterBin, "kubectl")
	bin = filepath.Join(root, "bin")
	base = framework.PortBase(t, portOffset)
	var err error
	dir, err = os.MkdirTemp("", "baton-e2e-")
	Expect(err).NotTo(HaveOccurred())
	var cancel context.CancelFunc
	suiteCtx, cancel = context.WithTimeout(context.Background(), 20*time.Minute)
	DeferCleanup(cancel)

	// Registered before anything starts, so that it runs after a failure
	// too, with its own context: make dev-down, then kill whatever is left
	// and fail if there was anything.
	DeferCleanup(func() { tearDownCluster(t, dir, base, addrs, !suiteFailed, "the cluster's") })

	start := time.Now()
	suiteFailed = true // until make dev is through
	framework.Run(t, suiteCtx, root, nil, "make", "--no-print-directory", "dev", "DEV_DIR="+dir, "DEV_PORT_BASE="+strconv.Itoa(base))
	suiteFailed = false
	fmt.Printf("MEASURED make dev: %s\n", time.Since(start).Round(100*time.Millisecond))

	pids := framework.ProcessesUnder(dir)
	Expect(pids).To(HaveLen(10), "the cluster's five processes, the Git server, Gitea, the manager, the sample app and Prometheus")
	addrs = framework.Listeners(t, pids)
	expectLoopbackOnly(addrs)

	ctrllog.SetLogger(logr.Discard()) // the manager's log is in dir/manager
	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(batonv1alpha1.AddToScheme(scheme)).To(Succeed())
	as := func(user string) client.Client {
		c, err := client.New(framework.RestConfig(t, dir, user), client.Options{Scheme: scheme})
		Expect(err).NotTo(HaveOccurred())
		return c
	}
	admin, alice, bob, carol, oncall = as("admin"), as("alice"), as("bob"), as("carol"), as("oncall")
})

// expectLoopbackOnly fails unless every address is on 127.0.0.1.
func expectLoopbackOnly(addrs []string) {
	GinkgoHelper()
	Expect(addrs).NotTo(BeEmpty())
	for _, a := range addrs {
		Expect(a).To(HavePrefix("127.0.0.1:"), "every port binds 127.0.0.1 only: %v", addrs)
	}
	GinkgoWriter.Printf("listening: %v\n", addrs)
}

// managerPid is the running manager's pid, from its pid file.
func managerPid() int {
	GinkgoHelper()
	b, err := os.ReadFile(filepath.Join(dir, "manager", "pid"))
	Expect(err).NotTo(HaveOccurred())
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	Expect(err).NotTo(HaveOccurred())
	Expect(syscall.Kill(pid, 0)).To(Succeed(), "manager pid %d is running", pid)
	return pid
}

// killManager SIGKILLs the manager and returns the command line it ran
// with, so that restartManager can start it again the same way.
func killManager() []string {
	GinkgoHelper()
	pid := managerPid()
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	Expect(err).NotTo(HaveOccurred())
	argv := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	Expect(argv[0]).To(HaveSuffix("/manager"))
	Expect(syscall.Kill(pid, syscall.SIGKILL)).To(Succeed())
	Eventually(func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d/cmdline", pid))
		return os.IsNotExist(err) || framework.IsZombie(pid)
	}).WithTimeout(30*time.Second).Should(BeTrue(), "manager pid %d is gone", pid)
	return argv
}

// managerEnv is the manager's environment as dev.sh gives it: the admin
// kubeconfig, and the dev CA as the trust store, so that it can reach Gitea
// over HTTPS.
func managerEnv() []string {
	return []string{"KUBECONFIG=" + filepath.Join(dir, "admin.kubeconfig"), "SSL_CERT_FILE=" + filepath.Join(dir, "pki", "ca.crt")}
}

// restartManager starts the manager again with argv, the way dev.sh does
// (bin/dev-cluster run manager), and waits until it is ready.
func restartManager(argv []string) {
	GinkgoHelper()
	framework.Run(GinkgoT(), suiteCtx, root, managerEnv(),
		filepath.Join(bin, "dev-cluster"), append([]string{"--dir", dir, "--port-base", strconv.Itoa(base), "run", "manager", "--"}, argv...)...)
	readyz := "http://" + procs.Ports(base).Addr(procs.Probes) + "/readyz"
	Eventually(func() error {
		resp, err := http.Get(readyz)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", readyz, resp.Status)
		}
		return nil
	}).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
	expectLoopbackOnly(framework.Listeners(GinkgoT(), framework.ProcessesUnder(dir)))
}

// plugin runs bin/kubectl-promote (make build) as user, with the user's
// kubeconfig, and returns its stdout and stderr.
func plugin(user string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(suiteCtx, filepath.Join(bin, "kubectl-promote"),
		append(args, "--kubeconfig", filepath.Join(dir, user+".kubeconfig"), "-n", ns)...)
	cmd.Dir = root
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	GinkgoWriter.Printf("$ kubectl promote %s   # as %s\n%s%s", strings.Join(args, " "), user, o.String(), e.String())
	return o.String(), e.String(), err
}

// tearDownCluster stops a dev cluster started by `make dev` in dir, kills
// and fails on anything still running from dir or listening on addrs, and
// removes dir unless a failure asks to keep its state and logs.
func tearDownCluster(t framework.T, dir string, base int, addrs []string, remove bool, what string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "dev-down", "DEV_DIR="+dir, "DEV_PORT_BASE="+strconv.Itoa(base))
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	GinkgoWriter.Printf("$ make dev-down\n%s", out)
	framework.KillLeftovers(t, dir)
	framework.AssertAllGone(t, dir, addrs)
	Expect(err).NotTo(HaveOccurred(), "make dev-down")
	if remove {
		_ = os.RemoveAll(dir)
	} else {
		fmt.Printf("kept %s state and logs in %s\n", what, dir)
	}
}
