//go:build e2e

package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/hack/dev/procs"
	"github.com/baton-dev/baton/test/e2e/framework"
)

// The failover spec's two managers listen on E2E_PORT_BASE+30..+37 (replica
// a: +30 webhook, +31 metrics, +32 probes, +33 push hooks; replica b: +34..+37),
// outside the suite's cluster (+40..+49) and test/devcluster's (+0, +20).
const failoverPortOffset = 30

// The Lease that cmd/manager elects its leader with (LeaderElectionID).
const leaseName = "baton.promotion.baton.dev"

var _ = Describe("Leader election with two managers", func() {
	It("8. failover: the follower takes over a Promotion in flight when the leader is SIGKILLed, and patches once", func() {
		// The suite's manager runs without --leader-elect. It makes way for
		// two managers started with its own flags plus leader election; it
		// is started again as it was when the spec ends, failed or not.
		suiteArgv := killManager()
		DeferCleanup(func() { restartManager(suiteArgv) })
		leaseNS := flagValue(suiteArgv, "--admission-key-namespace") // the dev namespace, baton-system
		Expect(leaseNS).NotTo(BeEmpty())

		fbase := framework.PortBase(GinkgoT(), failoverPortOffset)
		a := newReplica("a", suiteArgv, fbase, leaseNS)
		b := newReplica("b", suiteArgv, fbase+4, leaseNS)
		webhookAddr := procs.Ports(base).Addr(procs.Webhook) // where the webhook configurations point (hack/dev/cluster webhook-config)

		// Runs after both managers and the proxy are stopped (DeferCleanup is
		// LIFO), before the suite's manager comes back on its ports (procs.Webhook..Hooks).
		DeferCleanup(func() {
			for _, r := range []*replica{a, b} {
				Expect(framework.ProcessesUnder(r.dir)).To(BeEmpty(), "replica %s left a process behind", r.name)
			}
			for _, addr := range append(a.addrs(), append(b.addrs(), webhookAddr)...) {
				if c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond); err == nil {
					_ = c.Close()
					Fail(addr + " still accepts connections after the failover spec")
				}
			}
		})

		// The webhook configurations keep pointing at webhookAddr, where a TCP
		// proxy in this process now forwards each connection to either
		// manager's webhook (round robin, skipping one that refuses), as the
		// webhook Service does in a cluster; the spec later pins it to the
		// leader first. TLS passes through: both serve the dev certificate
		// from the same --webhook-cert-dir. Neither the webhook
		// configurations nor the suite's ports change.
		proxy := startProxy(webhookAddr, a.webhookAddr(), b.webhookAddr())
		DeferCleanup(proxy.close)
		a.start()
		DeferCleanup(a.stop)
		b.start()
		DeferCleanup(b.stop)
		a.waitReady()
		b.waitReady()
		expectLoopbackOnly(framework.Listeners(GinkgoT(), map[int]string{a.pid(): "a", b.pid(): "b", os.Getpid(): "e2e.test"}))

		// Exactly one leads: it reports leader_election_master_status 1, it
		// logged the acquisition, and the Lease names an identity of this
		// host (controller-runtime's <hostname>_<uuid>).
		var leader, follower *replica
		Eventually(func(g Gomega) {
			la, lb := a.metrics(g).isLeader(), b.metrics(g).isLeader()
			g.Expect(la != lb).To(BeTrue(), "exactly one leader: a=%v b=%v", la, lb)
			leader, follower = a, b
			if lb {
				leader, follower = b, a
			}
		}).WithTimeout(time.Minute).WithPolling(250 * time.Millisecond).Should(Succeed())
		firstHolder := leaseHolder(Default, leaseNS)
		hostname, err := os.Hostname()
		Expect(err).NotTo(HaveOccurred())
		Expect(firstHolder).To(HavePrefix(hostname + "_"))
		Eventually(func(g Gomega) {
			g.Expect(acquiredLease(leader.log(), leaseNS)).To(BeTrue(), "the leader's log says it acquired the Lease")
			g.Expect(leader.log()).To(ContainSubstring(becameLeader(firstHolder)))
		}).WithTimeout(10 * time.Second).Should(Succeed())
		Expect(acquiredLease(follower.log(), leaseNS)).To(BeFalse(), "the follower's log says it acquired the Lease")
		Expect(follower.log()).NotTo(ContainSubstring(" became leader"))
		GinkgoWriter.Printf("replica %s (pid %d) leads as %s; replica %s (pid %d) follows\n",
			leader.name, leader.pid(), firstHolder, follower.name, follower.pid())
		// The harder case for admission: the API server's connection to the
		// webhook leads to the replica that will die.
		leaderBackend, followerBackend := 0, 1
		if leader == b {
			leaderBackend, followerBackend = 1, 0
		}
		proxy.pin(leaderBackend)

		// minReadySeconds 10 makes each of the three surge steps last 10 s,
		// so the rollout is still going when the leader dies; the progress
		// deadline is raised to match.
		newEnvironment("f8-production", func(s *batonv1alpha1.EnvironmentSpec, d *appsv1.Deployment) {
			d.Spec.MinReadySeconds = 10
			d.Spec.ProgressDeadlineSeconds = ptr.To[int32](120)
			s.Rollout.Timeout = &metav1.Duration{Duration: 5 * time.Minute}
		})
		// Where alice creates a Promotion while the leader is dead: it needs
		// an approval, so nothing rolls out there.
		newEnvironment("f8-other", func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) {
			s.Approval.Required = 1
		})
		Expect(replicaSets("f8-production")).To(HaveLen(1))
		Expect(alice.Create(suiteCtx, promotion("f8-110", "f8-production", image110, "new checkout"))).To(Succeed())
		rolling := waitPhase("f8-110", batonv1alpha1.PromotionRollingOut, time.Minute)
		Expect(rolling.Status.Revision).To(Equal(int64(2)))

		// Only the leader reconciles: its controllers ran (adopting both
		// Environments, starting f8-110), while the follower's never started,
		// so it has no controller_runtime_reconcile_total series at all.
		lm, fm := leader.metrics(Default), follower.metrics(Default)
		Expect(lm.reconciles("environment")).To(BeNumerically(">", 0))
		Expect(lm.reconciles("promotion")).To(BeNumerically(">", 0))
		Expect(fm.hasReconcileSeries()).To(BeFalse(), "the follower reconciled something:\n%s", fm.reconcileSeries())
		Expect(leaseHolder(Default, leaseNS)).To(Equal(firstHolder))
		Expect(proxy.served[leaderBackend].Load()).To(BeNumerically(">", 0), "admission went through the leader's webhook")
		servedBySurvivor := proxy.served[followerBackend].Load()

		// SIGKILL: the leader cannot release the Lease, so the follower
		// waits for it to expire.
		leader.kill()
		killedAt := time.Now()
		Expect(waitPhase("f8-110", batonv1alpha1.PromotionRollingOut, time.Second).Status.Revision).To(Equal(int64(2)))
		d := &appsv1.Deployment{}
		Expect(carol.Get(suiteCtx, types.NamespacedName{Namespace: workloadNS("f8-production"), Name: "web"}, d)).To(Succeed())
		Expect(d.Status.UpdatedReplicas < 3 || d.Status.AvailableReplicas < 3 || d.Status.Replicas > 3).To(BeTrue(),
			"the rollout is still in progress when the leader dies: %+v", d.Status)

		// Admission does not wait for a leader: the API server's connection
		// to the dead replica is gone, the proxy connects it to the
		// survivor's webhook (the dead one's port refuses), which records
		// alice.
		other := promotion("f8-other-110", "f8-other", image110, "while the leader is dead")
		Expect(alice.Create(suiteCtx, other)).To(Succeed())
		Expect(other.Spec.RequestedBy).NotTo(BeNil())
		Expect(other.Spec.RequestedBy.Username).To(Equal("alice"))
		Expect(proxy.served[followerBackend].Load()).To(BeNumerically(">", servedBySurvivor), "the survivor's webhook answered")
		GinkgoWriter.Printf("created f8-other-110 %s after the kill; the Lease names %s (the dead leader: %v)\n",
			time.Since(killedAt).Round(100*time.Millisecond), leaseHolder(Default, leaseNS), leaseHolder(Default, leaseNS) == firstHolder)

		// The survivor takes the Lease once it expires (leaseDuration 15 s +
		// retryPeriod 2 s by default); the timeout is generous on purpose.
		var newHolder string
		Eventually(func(g Gomega) {
			newHolder = leaseHolder(g, leaseNS)
			g.Expect(newHolder).NotTo(BeEmpty())
			g.Expect(newHolder).NotTo(Equal(firstHolder))
			g.Expect(follower.metrics(g).isLeader()).To(BeTrue())
		}).WithTimeout(2 * time.Minute).WithPolling(250 * time.Millisecond).Should(Succeed())
		fmt.Printf("MEASURED failover: replica %s holds the Lease %s after the SIGKILL\n", follower.name, time.Since(killedAt).Round(100*time.Millisecond))
		Expect(newHolder).To(HavePrefix(hostname + "_"))
		Eventually(func(g Gomega) {
			g.Expect(acquiredLease(follower.log(), leaseNS)).To(BeTrue(), "the new leader's log says it acquired the Lease")
			g.Expect(follower.log()).To(ContainSubstring(becameLeader(newHolder)))
		}).WithTimeout(10 * time.Second).Should(Succeed())
		Expect(leader.running()).To(BeFalse(), "the killed manager has not come back")

		// The new leader finishes f8-110 with the one patch the old one made.
		done := waitPhase("f8-110", batonv1alpha1.PromotionSucceeded, 3*time.Minute)
		Expect(done.Status.Revision).To(Equal(int64(2)))
		Eventually(func(g Gomega) { expectDeployment(g, "f8-production", image110) }).WithTimeout(time.Minute).Should(Succeed())
		e := getEnv(Default, "f8-production")
		Expect(historyOf(e, "f8-110")).To(HaveLen(1))
		Expect(e.Status.History).To(HaveLen(2), "revision 1 (adopted) and f8-110's")
		Expect(replicaSets("f8-production")).To(HaveLen(2), "exactly one new ReplicaSet")
		Expect(follower.metrics(Default).reconciles("promotion")).To(BeNumerically(">", 0))
		// The new leader also picked up the Promotion admitted while nobody led.
		waitPhase("f8-other-110", batonv1alpha1.PromotionWaitingForApproval, time.Minute)

		// The killed manager comes back as a follower: ready, but it neither
		// takes the Lease nor reconciles for longer than a leaseDuration.
		leader.start()
		leader.waitReady()
		// It takes part in the election: its log since the restart says it
		// is trying for the Lease, which it must then keep failing to take.
		Eventually(func(g Gomega) {
			g.Expect(attemptsLease(leader.log(), leaseNS)).To(BeTrue(), "its log since the restart says it tries for the Lease")
		}).WithTimeout(10 * time.Second).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(leaseHolder(g, leaseNS)).To(Equal(newHolder))
			g.Expect(follower.metrics(g).isLeader()).To(BeTrue())
			m := leader.metrics(g)
			g.Expect(m.isLeader()).To(BeFalse())
			g.Expect(m.hasReconcileSeries()).To(BeFalse(), "the restarted follower reconciled something:\n%s", m.reconcileSeries())
		}).WithTimeout(20 * time.Second).WithPolling(time.Second).Should(Succeed())
		Expect(acquiredLease(leader.log(), leaseNS)).To(BeFalse(), "its log since the restart says it acquired the Lease")
		Expect(leader.log()).NotTo(ContainSubstring(" became leader"))
		expectLoopbackOnly(framework.Listeners(GinkgoT(), map[int]string{a.pid(): "a", b.pid(): "b", os.Getpid(): "e2e.test"}))
		GinkgoWriter.Printf("webhook connections through the proxy: a=%d b=%d\n", proxy.served[0].Load(), proxy.served[1].Load())
	})
})

// acquiredLease reports whether a manager's log says it took the Lease:
// client-go's leader election logs (through controller-runtime's logger)
// `Successfully acquired lease {"lock": "<namespace>/<name>"}`.
func acquiredLease(log, leaseNS string) bool {
	return logsLease(log, leaseNS, "successfully acquired lease")
}

// attemptsLease reports whether a manager's log says it is trying for the
// Lease: client-go logs `Attempting to acquire leader lease...` with the
// lock once its election loop starts.
func attemptsLease(log, leaseNS string) bool {
	return logsLease(log, leaseNS, "attempting to acquire leader lease")
}

// logsLease reports whether a line of log says phrase (in any case) about
// the Lease in leaseNS.
func logsLease(log, leaseNS, phrase string) bool {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(strings.ToLower(line), phrase) && strings.Contains(line, leaseNS+"/"+leaseName) {
			return true
		}
	}
	return false
}

// becameLeader is the Event that the new holder records on the Lease, which
// the manager also logs: it names the identity, so it maps the Lease's
// holderIdentity to a process.
func becameLeader(holder string) string { return holder + " became leader" }

func leaseHolder(g Gomega, leaseNS string) string {
	l := &coordinationv1.Lease{}
	g.Expect(admin.Get(suiteCtx, types.NamespacedName{Namespace: leaseNS, Name: leaseName}, l)).To(Succeed())
	return ptr.Deref(l.Spec.HolderIdentity, "")
}

// flagValue returns the value of --name=value in argv, or "".
func flagValue(argv []string, name string) string {
	for _, a := range argv {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// replica is one of the spec's two managers, started by this process (not by
// bin/dev-cluster, whose `down` knows only one manager) with the suite
// manager's flags, its own ports and leader election. Its state is in
// <dir>/failover-<name>/: the pid file, one log per start, and its Git cache,
// so that its command line names the cluster's directory.
type replica struct {
	name string
	dir  string
	argv []string
	port int // webhook; metrics, probes and hooks follow

	starts int
	cmd    *exec.Cmd
	done   chan struct{}
	logf   string
}

func newReplica(name string, suiteArgv []string, port int, leaseNS string) *replica {
	GinkgoHelper()
	r := &replica{name: name, dir: filepath.Join(dir, "failover-"+name), port: port}
	set := map[string]string{
		"--webhook-port":              strconv.Itoa(port),
		"--metrics-bind-address":      "127.0.0.1:" + strconv.Itoa(port+1),
		"--health-probe-bind-address": "127.0.0.1:" + strconv.Itoa(port+2),
		"--hooks-bind-address":        "127.0.0.1:" + strconv.Itoa(port+3),
	}
	// Its own Git cache, as each Pod has its own emptyDir: replaced when
	// dev.sh sets one, added otherwise.
	cache := "--git-cache-dir=" + filepath.Join(r.dir, "git-cache")
	replaced := map[string]bool{}
	for _, a := range suiteArgv {
		flag, _, _ := strings.Cut(a, "=")
		if v, ok := set[flag]; ok {
			a = flag + "=" + v
			replaced[flag] = true
		}
		if flag == "--git-cache-dir" {
			a, cache = cache, ""
		}
		Expect(flag).NotTo(BeElementOf("--leader-elect", "--leader-election-namespace"), "set by the failover spec")
		r.argv = append(r.argv, a)
	}
	Expect(replaced).To(HaveLen(len(set)), "the suite's manager has %v as --flag=value: %v", set, suiteArgv)
	r.argv = append(r.argv, "--leader-elect", "--leader-election-namespace="+leaseNS)
	if cache != "" {
		r.argv = append(r.argv, cache)
	}
	return r
}

func (r *replica) webhookAddr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }
func (r *replica) addrs() []string {
	return []string{r.webhookAddr(), "127.0.0.1:" + strconv.Itoa(r.port+1), "127.0.0.1:" + strconv.Itoa(r.port+2), "127.0.0.1:" + strconv.Itoa(r.port+3)}
}

func (r *replica) start() {
	GinkgoHelper()
	Expect(os.MkdirAll(r.dir, 0o700)).To(Succeed())
	r.starts++
	r.logf = filepath.Join(r.dir, fmt.Sprintf("manager-%d.log", r.starts))
	log, err := os.OpenFile(r.logf, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	Expect(err).NotTo(HaveOccurred())
	cmd := exec.Command(r.argv[0], r.argv[1:]...)
	cmd.Env = append(os.Environ(), managerEnv()...)
	cmd.Stdout, cmd.Stderr = log, log
	Expect(cmd.Start()).To(Succeed())
	r.cmd, r.done = cmd, make(chan struct{})
	go func(done chan struct{}) {
		_ = cmd.Wait()
		_ = log.Close()
		close(done)
	}(r.done)
	Expect(os.WriteFile(filepath.Join(r.dir, "pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600)).To(Succeed())
	GinkgoWriter.Printf("started replica %s (pid %d, log %s): %s\n", r.name, cmd.Process.Pid, r.logf, strings.Join(r.argv, " "))
}

func (r *replica) pid() int { return r.cmd.Process.Pid }

func (r *replica) running() bool {
	if r.cmd == nil {
		return false
	}
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// kill SIGKILLs the replica and waits until it has exited.
func (r *replica) kill() {
	GinkgoHelper()
	Expect(r.running()).To(BeTrue(), "replica %s is running", r.name)
	Expect(r.cmd.Process.Signal(syscall.SIGKILL)).To(Succeed())
	Eventually(r.done).WithTimeout(30 * time.Second).Should(BeClosed())
}

// stop is the cleanup: SIGTERM (the manager releases the Lease), then
// SIGKILL after 20 s.
func (r *replica) stop() {
	if !r.running() {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
		Eventually(r.done).WithTimeout(30*time.Second).Should(BeClosed(), "replica %s survived SIGKILL", r.name)
	}
}

// waitReady waits until /readyz answers 200 and the webhook completes a TLS
// handshake with the dev CA, as hack/dev/dev.sh does.
func (r *replica) waitReady() {
	GinkgoHelper()
	caPEM, err := os.ReadFile(filepath.Join(dir, "pki", "ca.crt"))
	Expect(err).NotTo(HaveOccurred())
	pool := x509.NewCertPool()
	Expect(pool.AppendCertsFromPEM(caPEM)).To(BeTrue())
	// The webhook answers only the API server's client certificate.
	client, err := tls.LoadX509KeyPair(filepath.Join(dir, "pki", "webhook-client.crt"), filepath.Join(dir, "pki", "webhook-client.key"))
	Expect(err).NotTo(HaveOccurred())
	readyz := fmt.Sprintf("http://127.0.0.1:%d/readyz", r.port+2)
	Eventually(func() error {
		if !r.running() {
			return StopTrying("replica " + r.name + " exited; see " + r.logf)
		}
		resp, err := http.Get(readyz)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", readyz, resp.Status)
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", r.webhookAddr(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{client}})
		if err != nil {
			return err
		}
		return c.Close()
	}).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
}

// log is the replica's log since it was last started.
func (r *replica) log() string {
	GinkgoHelper()
	b, err := os.ReadFile(r.logf)
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

// metrics scrapes the replica's /metrics.
func (r *replica) metrics(g Gomega) promMetrics {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", r.port+1))
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	m := promMetrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		g.Expect(i).To(BeNumerically(">", 0), "a sample line: %q", line)
		v, err := strconv.ParseFloat(line[i+1:], 64)
		g.Expect(err).NotTo(HaveOccurred(), "a sample line: %q", line)
		m[line[:i]] = v
	}
	g.Expect(sc.Err()).NotTo(HaveOccurred())
	return m
}

// promMetrics maps each series (name{labels}) to its value.
type promMetrics map[string]float64

func (m promMetrics) isLeader() bool {
	return m[`leader_election_master_status{name="`+leaseName+`"}`] == 1
}

// reconciles sums controller_runtime_reconcile_total of one controller.
func (m promMetrics) reconciles(controller string) float64 {
	total := 0.0
	for k, v := range m {
		if strings.HasPrefix(k, "controller_runtime_reconcile_total{") && strings.Contains(k, `controller="`+controller+`"`) {
			total += v
		}
	}
	return total
}

// hasReconcileSeries: a controller's series appear when it starts, which
// only the leader's do.
func (m promMetrics) hasReconcileSeries() bool { return m.reconcileSeries() != "" }

func (m promMetrics) reconcileSeries() string {
	var b strings.Builder
	for k, v := range m {
		if strings.HasPrefix(k, "controller_runtime_reconcile_total{") {
			fmt.Fprintf(&b, "%s %v\n", k, v)
		}
	}
	return b.String()
}

// tcpProxy forwards each connection to one of its backends, taking them in
// turn and skipping one that refuses, like a Service in front of two pods.
type tcpProxy struct {
	ln       net.Listener
	backends []string
	next     atomic.Uint32
	pinned   atomic.Int32 // 1+the backend tried first, 0 for round robin
	served   []atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startProxy(addr string, backends ...string) *tcpProxy {
	GinkgoHelper()
	// The suite's manager was just killed; its socket goes with the process,
	// which may take a moment to be gone.
	var ln net.Listener
	Eventually(func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	}).WithTimeout(15 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
	p := &tcpProxy{ln: ln, backends: backends, served: make([]atomic.Int64, len(backends)), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					GinkgoWriter.Printf("proxy %s: %v\n", addr, err)
				}
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.serve(c)
			}()
		}
	}()
	return p
}

func (p *tcpProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false // closed
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *tcpProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c) // a no-op once closed (nil map)
	}
}

func (p *tcpProxy) serve(c net.Conn) {
	defer c.Close()
	if !p.track(c) {
		return
	}
	first := int(p.next.Add(1))
	if pin := int(p.pinned.Load()); pin > 0 {
		first = pin - 1
	}
	for i := range p.backends {
		n := (first + i) % len(p.backends)
		bc, err := net.DialTimeout("tcp", p.backends[n], time.Second)
		if err != nil {
			continue
		}
		if !p.track(bc) {
			_ = bc.Close()
			return
		}
		p.served[n].Add(1)
		// Whichever side ends first closes both, so that the API server
		// drops a kept-alive connection to a replica that died.
		var once sync.Once
		closeBoth := func() {
			once.Do(func() {
				_ = c.Close()
				_ = bc.Close()
				p.untrack(c, bc)
			})
		}
		go func() { _, _ = io.Copy(bc, c); closeBoth() }()
		_, _ = io.Copy(c, bc)
		closeBoth()
		return
	}
}

// pin makes new connections try backend n first and closes the open ones,
// so that the API server's kept-alive connection leads to backend n.
func (p *tcpProxy) pin(n int) {
	p.pinned.Store(int32(n + 1))
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
}

func (p *tcpProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
