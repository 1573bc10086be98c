package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/baton-dev/baton/hack/dev/procs"
	"github.com/baton-dev/baton/internal/certs"
)

const (
	serviceCIDR = "10.96.0.0/16"
	serviceIP   = "10.96.0.1" // the first address of serviceCIDR: the kubernetes Service
	nodeName    = "kwok-node-0"
)

// The ports are laid out from --port-base as hack/dev/procs says.

var fluxProcs = []string{"kustomize-controller", "source-controller"}

// optionalPorts are the ports of the processes dev.sh may start beside the
// cluster and the manager: `down` checks them only when it stopped the
// process.
var optionalPorts = map[string][]int{
	"source-controller":    {procs.FluxStorage, procs.FluxSourceMetrics, procs.FluxSourceHealth},
	"kustomize-controller": {procs.FluxKustomizeMetrics, procs.FluxKustomizeHealth},
	"sampleapp":            {procs.SampleApp},
	"prometheus":           {procs.Prometheus},
	"gitea":                {procs.Gitea},
}

// appProcs stand in for the application, its forge and its monitoring.
var appProcs = []string{"sampleapp", "prometheus", "gitea"}

// user is one identity in the static token file. Every user gets
// <dir>/<name>.kubeconfig.
type user struct{ name, groups string }

var users = []user{
	{"admin", "system:masters"},
	{"alice", "baton-dev"},   // baton-promoter
	{"bob", "baton-dev"},     // baton-approver
	{"carol", "baton-dev"},   // baton-viewer
	{"oncall", "baton-dev"},  // baton-rollbacker, baton-freezer, baton-breakglass
	{"mallory", "baton-dev"}, // no role of her own: red-team specs bind what they test
}

// The components, in start order; `down` stops them in reverse, after the
// manager that dev.sh runs.
var components = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

type cluster struct {
	dir        string // absolute; holds kubeconfigs, pki, tokens and one directory per process
	assetsDir  string // kube-apiserver, etcd
	clusterBin string // kube-controller-manager, kube-scheduler, kubectl, kwok
	toolsDir   string // hack/tools, to find kwok's stages in the module cache
	portBase   int
}

func (c *cluster) port(off int) int { return procs.Ports(c.portBase).Port(off) }
func (c *cluster) proc(name string) procs.Background {
	return procs.Background{Name: name, Dir: c.dir}
}
func (c *cluster) pki() pki {
	return pki{dir: filepath.Join(c.dir, "pki"), webhookDir: filepath.Join(c.dir, "webhook-certs")}
}
func (c *cluster) kubeconfig(u string) string { return filepath.Join(c.dir, u+".kubeconfig") }
func (c *cluster) server() string {
	return fmt.Sprintf("https://127.0.0.1:%d", c.port(procs.APIServer))
}

func (c *cluster) args(name string) (string, []string) {
	p := c.pki()
	admin := c.kubeconfig("admin")
	state := c.proc(name).StateDir()
	switch name {
	case "etcd":
		peer := fmt.Sprintf("http://127.0.0.1:%d", c.port(procs.EtcdPeer))
		client := fmt.Sprintf("http://127.0.0.1:%d", c.port(procs.EtcdClient))
		return filepath.Join(c.assetsDir, "etcd"), []string{
			"--name=dev", "--data-dir=" + filepath.Join(state, "data"),
			"--listen-client-urls=" + client, "--advertise-client-urls=" + client,
			"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
			"--initial-cluster=dev=" + peer,
			// A throwaway cluster: durability is not worth the fsyncs.
			"--unsafe-no-fsync", "--log-level=warn",
		}
	case "kube-apiserver":
		return filepath.Join(c.assetsDir, "kube-apiserver"), []string{
			fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", c.port(procs.EtcdClient)),
			"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
			// The endpoint reconciler refuses a loopback address; nothing
			// in a kwok cluster reaches the kubernetes Service anyway.
			"--endpoint-reconciler-type=none",
			fmt.Sprintf("--secure-port=%d", c.port(procs.APIServer)),
			"--cert-dir=" + filepath.Join(state, "certs"),
			"--tls-cert-file=" + p.path("apiserver.crt"), "--tls-private-key-file=" + p.path("apiserver.key"),
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + p.path("sa.pub"),
			"--service-account-signing-key-file=" + p.path("sa.key"),
			"--token-auth-file=" + filepath.Join(c.dir, "tokens.csv"),
			"--authorization-mode=RBAC",
			"--service-cluster-ip-range=" + serviceCIDR,
			// Present a client certificate to the manager's webhook, which
			// answers no one else (docs/install.md).
			"--admission-control-config-file=" + p.path(filepath.Join("admission", "admission-configuration.yaml")),
		}
	case "kube-controller-manager":
		return filepath.Join(c.clusterBin, "kube-controller-manager"), []string{
			"--kubeconfig=" + admin, "--authentication-kubeconfig=" + admin, "--authorization-kubeconfig=" + admin,
			"--service-account-private-key-file=" + p.path("sa.key"),
			"--root-ca-file=" + p.path("ca.crt"),
			"--leader-elect=false",
			// nodeipam needs a cluster CIDR; nodelifecycle must stay, or the
			// node's not-ready taint is never lifted.
			"--controllers=*,-nodeipam",
			"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", c.port(procs.ControllerManager)),
			"--cert-dir=" + filepath.Join(state, "certs"),
		}
	case "kube-scheduler":
		return filepath.Join(c.clusterBin, "kube-scheduler"), []string{
			"--kubeconfig=" + admin, "--authentication-kubeconfig=" + admin, "--authorization-kubeconfig=" + admin,
			"--leader-elect=false",
			"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", c.port(procs.Scheduler)),
			"--cert-dir=" + filepath.Join(state, "certs"),
		}
	case "kwok":
		return filepath.Join(c.clusterBin, "kwok"), []string{
			"--kubeconfig=" + admin,
			"--config=" + filepath.Join(state, "stages.yaml"),
			"--manage-all-nodes=false",
			"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
			fmt.Sprintf("--server-address=127.0.0.1:%d", c.port(procs.Kwok)),
			"--node-ip=127.0.0.1",
		}
	}
	panic("unknown component " + name)
}

// up starts whatever is not running and waits until a Pod can be scheduled
// and become Ready. Running it again is a no-op.
func (c *cluster) up(ctx context.Context) error {
	start := time.Now()
	for _, bin := range []string{filepath.Join(c.assetsDir, "etcd"), filepath.Join(c.assetsDir, "kube-apiserver"),
		filepath.Join(c.clusterBin, "kube-controller-manager"), filepath.Join(c.clusterBin, "kube-scheduler"),
		filepath.Join(c.clusterBin, "kwok")} {
		if !exists(bin) {
			return fmt.Errorf("%s is missing: run `make k8s-cluster-bins`", bin)
		}
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	if err := c.pki().ensure(); err != nil {
		return err
	}
	if err := c.writeAdmissionConfig(); err != nil {
		return err
	}
	tokens, err := c.ensureTokens()
	if err != nil {
		return err
	}
	if err := c.writeKubeconfigs(tokens); err != nil {
		return err
	}
	if err := c.writeStages(); err != nil {
		return err
	}
	step := func(name string, ready func(context.Context) error) error { return c.step(ctx, start, name, ready) }
	caPool := x509.NewCertPool()
	caPEM, err := os.ReadFile(c.pki().path("ca.crt"))
	if err != nil {
		return err
	}
	caPool.AppendCertsFromPEM(caPEM)
	if err := step("etcd", func(ctx context.Context) error {
		return poll(ctx, fmt.Sprintf("http://127.0.0.1:%d/health", c.port(procs.EtcdClient)), nil, "")
	}); err != nil {
		return err
	}
	if err := step("kube-apiserver", func(ctx context.Context) error {
		return poll(ctx, c.server()+"/readyz", caPool, tokens["admin"])
	}); err != nil {
		return err
	}
	for _, name := range []string{"kube-controller-manager", "kube-scheduler", "kwok"} {
		if err := step(name, nil); err != nil {
			return err
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig("admin"))
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if err := ensureNode(ctx, cs); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := waitSchedulable(wctx, cs); err != nil {
		return fmt.Errorf("the node %s never became schedulable: %w; see the logs under %s", nodeName, err, rel(c.dir))
	}
	fmt.Printf("Cluster ready in %.1fs: node %s is Ready, the default ServiceAccount exists.\n", time.Since(start).Seconds(), nodeName)
	fmt.Printf("  export KUBECONFIG=%s   # or alice, bob, carol, oncall\n", rel(c.kubeconfig("admin")))
	return nil
}

// writeAdmissionConfig points kube-apiserver's webhook client certificate at
// the manager's webhook port, where dev.sh's manager listens.
func (c *cluster) writeAdmissionConfig() error {
	client, err := c.pki().webhookClient()
	if err != nil {
		return err
	}
	_, err = certs.WriteAdmissionConfig(c.pki().path("admission"), fmt.Sprintf("127.0.0.1:%d", c.port(procs.Webhook)), client)
	return err
}

// step starts one component unless it runs already, and waits until ready
// says it serves, giving up as soon as the process exits.
func (c *cluster) step(ctx context.Context, start time.Time, name string, ready func(context.Context) error) error {
	p := c.proc(name)
	if pid, ok := p.PID(); ok {
		fmt.Printf("  %-24s already running (pid %d)\n", name, pid)
	} else {
		bin, args := c.args(name)
		pid, err := p.Start(bin, args...)
		if err != nil {
			return err
		}
		fmt.Printf("  %-24s started (pid %d, log %s)\n", name, pid, rel(p.LogFile()))
	}
	if ready == nil {
		return nil
	}
	wctx, cancel := context.WithTimeoutCause(ctx, 60*time.Second, errors.New("timed out"))
	defer cancel()
	// Give up as soon as the process exits, instead of at the timeout.
	wctx, exited := context.WithCancelCause(wctx)
	go func() {
		// Three misses in a row: a single failed read of /proc (seen
		// under load, with the process running fine) is not an exit.
		for misses := 0; wctx.Err() == nil; time.Sleep(200 * time.Millisecond) {
			if _, ok := p.PID(); ok {
				misses = 0
			} else if misses++; misses == 3 {
				exited(errors.New("it exited"))
				return
			}
		}
	}()
	if err := ready(wctx); err != nil {
		return fmt.Errorf("%s did not become ready (%v): %w; see %s", name, context.Cause(wctx), err, rel(p.LogFile()))
	}
	exited(nil)
	fmt.Printf("  %-24s ready after %.1fs\n", name, time.Since(start).Seconds())
	return nil
}

// down stops every process with a pid file under dir, the manager and the
// git server first, and fails if any of the cluster's ports still accepts
// connections.
func (c *cluster) down() error {
	names := append([]string{"manager"}, fluxProcs...)
	names = append(names, appProcs...)
	names = append(names, "gitserver")
	for i := len(components) - 1; i >= 0; i-- {
		names = append(names, components[i])
	}
	var errs []error
	var ports []int
	for off := range procs.Count {
		ports = append(ports, off)
	}
	for _, name := range names {
		stopped, err := c.proc(name).Stop(20 * time.Second)
		if err != nil {
			errs = append(errs, err)
		} else if stopped {
			fmt.Printf("  %-24s stopped\n", name)
			ports = append(ports, optionalPorts[name]...)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, off := range ports {
		for procs.Listening(c.port(off)) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if procs.Listening(c.port(off)) {
			errs = append(errs, fmt.Errorf("port %d still accepts connections after stopping everything under %s", c.port(off), c.dir))
		}
	}
	return errors.Join(errs...)
}

func (c *cluster) status() (running int) {
	total := 0
	optional := append(append([]string{}, fluxProcs...), appProcs...)
	for _, name := range append(append(append([]string{}, components...), "manager", "gitserver"), optional...) {
		if pid, ok := c.proc(name).PID(); ok {
			kib := procs.RSSKiB(pid)
			total += kib
			running++
			fmt.Printf("  %-24s running  pid %-7d RSS %4d MiB  log %s\n", name, pid, kib/1024, rel(c.proc(name).LogFile()))
		} else if !slices.Contains(optional, name) {
			fmt.Printf("  %-24s stopped\n", name)
		}
	}
	fmt.Printf("  %-24s %d MiB RSS in total\n", "", total/1024)
	return running
}

// ensureTokens reads <dir>/tokens.csv, creating it with random tokens on the
// first run. It stays under bin/ (gitignored) and is never printed.
func (c *cluster) ensureTokens() (map[string]string, error) {
	path := filepath.Join(c.dir, "tokens.csv")
	tokens := map[string]string{}
	if b, err := os.ReadFile(path); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.SplitN(line, ",", 3); len(f) == 3 {
				tokens[f[1]] = f[0]
			}
		}
	}
	var b strings.Builder
	for _, u := range users {
		if tokens[u.name] == "" {
			buf := make([]byte, 24)
			if _, err := rand.Read(buf); err != nil {
				return nil, err
			}
			tokens[u.name] = hex.EncodeToString(buf)
		}
		// token,user,uid,"group1,group2"
		fmt.Fprintf(&b, "%s,%s,%s,\"%s\"\n", tokens[u.name], u.name, u.name, u.groups)
	}
	return tokens, os.WriteFile(path, []byte(b.String()), 0o600)
}

func (c *cluster) writeKubeconfigs(tokens map[string]string) error {
	caPEM, err := os.ReadFile(c.pki().path("ca.crt"))
	if err != nil {
		return err
	}
	for _, u := range users {
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters["baton-dev"] = &clientcmdapi.Cluster{Server: c.server(), CertificateAuthorityData: caPEM}
		cfg.AuthInfos[u.name] = &clientcmdapi.AuthInfo{Token: tokens[u.name]}
		cfg.Contexts[u.name+"@baton-dev"] = &clientcmdapi.Context{Cluster: "baton-dev", AuthInfo: u.name, Namespace: "web"}
		cfg.CurrentContext = u.name + "@baton-dev"
		if err := clientcmd.WriteToFile(*cfg, c.kubeconfig(u.name)); err != nil {
			return err
		}
		if err := os.Chmod(c.kubeconfig(u.name), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// writeStages assembles kwok's stage configuration: node/fast, node/heartbeat
// and pod/fast from the kwok module that hack/tools pins, plus Baton's
// pod-broken, pod-smoke-fails, pod-release-fails and pod-ready-digest stages
// (stages/ next to this program).
func (c *cluster) writeStages() error {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok")
	cmd.Dir = c.toolsDir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("find the kwok module from %s: %w", c.toolsDir, err)
	}
	kwokDir := strings.TrimSpace(string(out))
	var docs []string
	for _, set := range []string{"node/fast", "node/heartbeat", "pod/fast"} {
		files, err := filepath.Glob(filepath.Join(kwokDir, "kustomize", "stage", set, "*.yaml"))
		if err != nil {
			return err
		}
		for _, f := range files {
			if filepath.Base(f) == "kustomization.yaml" {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			docs = append(docs, "# from "+f+"\n"+strings.TrimPrefix(string(b), "---\n"))
		}
	}
	if len(docs) == 0 {
		return fmt.Errorf("no kwok stages under %s/kustomize/stage", kwokDir)
	}
	docs = append(docs, "# Baton's stage: images tagged broken never become Ready\n"+brokenStage,
		"# Baton's stage: a Job's Pod testing an image that ends in -smoke-fails fails\n"+smokeFailsStage,
		"# Baton's stage: a release Job's Pod for an image that ends in -release-fails fails\n"+releaseFailsStage,
		"# Baton's stage: a Pod annotated kwok.baton.dev/image-digest reports that digest as its imageID\n"+readyDigestStage)
	if err := os.MkdirAll(c.proc("kwok").StateDir(), 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.proc("kwok").StateDir(), "stages.yaml"), []byte(strings.Join(docs, "\n---\n")), 0o644)
}

func ensureNode(ctx context.Context, cs kubernetes.Interface) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name: nodeName,
		Annotations: map[string]string{
			"kwok.x-k8s.io/node":           "fake",
			"node.alpha.kubernetes.io/ttl": "0",
		},
		Labels: map[string]string{
			"kubernetes.io/hostname": nodeName,
			"kubernetes.io/os":       "linux",
			"kubernetes.io/arch":     "amd64",
			"type":                   "kwok",
		},
	}}
	_, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create node %s: %w", nodeName, err)
	}
	return nil
}

// waitSchedulable waits until kwok reports the node Ready, the node lifecycle
// controller has lifted its not-ready taint, and the service-account
// controller has created the default ServiceAccount that Pods need.
func waitSchedulable(ctx context.Context, cs kubernetes.Interface) error {
	var last string
	for {
		last = func() string {
			n, err := cs.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
			if err != nil {
				return err.Error()
			}
			ready := false
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready = true
				}
			}
			if !ready {
				return "node not Ready (kwok)"
			}
			for _, t := range n.Spec.Taints {
				if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
					return "node still tainted " + t.Key + " (kube-controller-manager)"
				}
			}
			if _, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
				return "default ServiceAccount: " + err.Error()
			}
			return ""
		}()
		if last == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New(last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// poll GETs url until it answers 200.
func poll(ctx context.Context, url string, roots *x509.CertPool, token string) error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	last := errors.New("no answer yet")
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("GET %s: %s", url, resp.Status)
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return last
		case <-time.After(150 * time.Millisecond):
		}
	}
}

// rel shortens a path under the working directory, for messages.
func rel(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if r, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}
