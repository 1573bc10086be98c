// Command sampleapp serves real HTTP, with real metrics, for every
// Deployment of the dev or e2e cluster, behaving as the image each one runs
// now (tag -errors: 30% of answers are 500; -slow: 300ms more), and sends
// itself steady traffic. Prometheus scrapes its /metrics (docs/verification.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/baton-dev/baton/internal/testing/sampleapp"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster whose Deployments to follow")
	listen := flag.String("listen", "127.0.0.1:9102", "address to serve the workloads and /metrics on")
	rps := flag.Int("rps", 10, "requests a second sent to every workload")
	flag.Parse()
	if err := run(*kubeconfig, *listen, *rps); err != nil {
		fmt.Fprintln(os.Stderr, "sampleapp:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, listen string, rps int) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("read kubeconfig %s: %w", kubeconfig, err)
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("sampleapp: serving on http://%s, %d requests a second to every Deployment\n", l.Addr(), rps)
	return sampleapp.New().Run(ctx, cfg, l, rps)
}
