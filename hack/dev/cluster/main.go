// Command cluster runs Baton's local Kubernetes cluster: etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler built from
// hack/tools, and kwok playing the kubelet for one fake node. Every process
// runs in the background with its pid file and log under --dir/<name>/, and
// binds 127.0.0.1 only, on ports from --port-base up.
//
//	cluster up      start what is not running; wait until Pods can run
//	cluster down    stop the manager and the cluster; fail if a port stays open
//	cluster status  show each process and its memory
//	cluster run NAME -- CMD ARGS...   (re)start a background process, e.g. the manager
//	cluster webhook-config            print the webhook configurations for a manager on the host
//	cluster git-init                  create <dir>/git and the push-hook token <dir>/git/hook-token (once)
//	cluster git-serve                 serve <dir>/git over smart HTTP on base+10 (dev.sh runs it as "gitserver")
//	cluster gitea-init --gitea BIN    install Gitea's site under <dir>/gitea (once): certificate, app.ini, database, administrator
//	cluster gitea-seed                wait for Gitea (dev.sh runs it as "gitea"); create the repository acme/web, its users, Baton's token and the push webhook (once)
//	cluster gitea-hook on|off         turn that push webhook on or off (hack/dev/merge.sh --no-hook)
//	cluster ports                     print the manager's, the Git server's and Flux's ports as shell assignments
//
// See docs/dev-cluster.md; `make dev-cluster` and `make dev` call it.
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/baton-dev/baton/hack/dev/procs"
)

//go:embed stages/pod-broken.yaml
var brokenStage string

//go:embed stages/pod-smoke-fails.yaml
var smokeFailsStage string

//go:embed stages/pod-release-fails.yaml
var releaseFailsStage string

//go:embed stages/pod-ready-digest.yaml
var readyDigestStage string

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("cluster", flag.ExitOnError)
	dir := fs.String("dir", "bin/dev", "Where the cluster keeps its state, kubeconfigs, pid files and logs.")
	assets := fs.String("assets-dir", "", "The directory holding kube-apiserver and etcd (the Makefile's K8S_ASSETS).")
	clusterBin := fs.String("cluster-bin-dir", "", "The directory holding kube-controller-manager, kube-scheduler and kwok (the Makefile's K8S_CLUSTER).")
	tools := fs.String("tools-dir", "hack/tools", "The hack/tools module, whose pinned kwok supplies the stage files.")
	portBase := fs.Int("port-base", procs.DefaultDevBase, "The first of the cluster's ports on 127.0.0.1 (see docs/dev-cluster.md for the layout).")
	gitea := fs.String("gitea", "", "gitea-init: the Gitea binary (make gitea builds bin/gitea/<version>/gitea).")
	manifests := fs.String("webhook-manifests", "config/webhook/manifests.yaml", "webhook-config: the generated webhook configurations.")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: cluster [flags] up|down|status|ports|webhook-config|git-init|git-serve|gitea-init|gitea-seed|gitea-hook on|off|run NAME -- CMD ARGS...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		os.Exit(2)
	}
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			return p
		}
		return a
	}
	c := &cluster{dir: abs(*dir), assetsDir: abs(*assets), clusterBin: abs(*clusterBin), toolsDir: abs(*tools), portBase: *portBase}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch cmd := fs.Arg(0); cmd {
	case "up":
		if *assets == "" || *clusterBin == "" {
			return fmt.Errorf("up needs --assets-dir and --cluster-bin-dir")
		}
		fmt.Printf("Starting the dev cluster in %s (ports %d-%d on 127.0.0.1)\n", rel(c.dir), c.port(0), c.port(procs.Count-1))
		return c.up(ctx)
	case "down":
		fmt.Printf("Stopping everything under %s\n", rel(c.dir))
		return c.down()
	case "status":
		if c.status() == 0 {
			os.Exit(3)
		}
		return nil
	case "webhook-config":
		out, err := webhookConfig(*manifests, c.pki().path("ca.crt"), c.port(procs.Webhook))
		if err != nil {
			return err
		}
		fmt.Print(out)
		return nil
	case "git-init":
		return c.gitInit()
	case "git-serve":
		return c.gitServe(ctx)
	case "gitea-init":
		bin := *gitea
		if bin != "" {
			bin = abs(bin)
		}
		return c.giteaInit(bin)
	case "gitea-seed":
		return c.giteaSeed()
	case "gitea-hook":
		switch fs.Arg(1) {
		case "on", "off":
			return c.giteaSetHook(fs.Arg(1) == "on")
		default:
			return fmt.Errorf("usage: cluster gitea-hook on|off")
		}
	case "ports":
		// For hack/dev/dev.sh and merge.sh: eval "$(cluster ports)".
		for _, n := range procs.Names {
			fmt.Printf("%s=%d\n", n.Name, c.port(n.Offset))
		}
		return nil
	case "run":
		return c.runProc(fs.Args()[1:])
	default:
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// runProc (re)starts a background process: args are NAME -- CMD ARGS...
func (c *cluster) runProc(args []string) error {
	if len(args) < 3 || args[1] != "--" {
		return fmt.Errorf("usage: cluster run NAME -- CMD ARGS...")
	}
	p := c.proc(args[0])
	if _, err := p.Stop(20 * time.Second); err != nil {
		return err
	}
	pid, err := p.Start(args[2], args[3:]...)
	if err != nil {
		return err
	}
	fmt.Printf("  %-24s started (pid %d, log %s)\n", p.Name, pid, rel(p.LogFile()))
	return nil
}
