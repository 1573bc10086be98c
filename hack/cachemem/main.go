// Command cachemem measures how much heap the manager's informer caches hold
// for 5,000 Deployments and their 10,000 Pods, with and without Baton's cache
// transforms (controllers.CacheOptions). It starts a real kube-apiserver and
// etcd (envtest), creates the Deployments and Pods (with the status a kubelet
// writes), then measures each kind and variant in a fresh child process so
// that one does not inherit the other's garbage.
//
//	KUBEBUILDER_ASSETS=$PWD/bin/k8s/v1.37.2-etcd-v3.7.0 go run ./hack/cachemem
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/controllers"
	"github.com/baton-dev/baton/hack/internal/fleet"
	"github.com/baton-dev/baton/hack/internal/measure"
	"github.com/baton-dev/baton/internal/testenv"
)

func main() {
	count := flag.Int("deployments", 5000, "how many Deployments to create")
	podsEach := flag.Int("pods-per-deployment", 2, "how many Pods of each Deployment to create")
	measure := flag.String("measure", "", "internal: measure one variant (with or without) against -measure-kubeconfig")
	kind := flag.String("measure-kind", "deployments", "internal: which informer to measure (deployments or pods)")
	kubeconfig := flag.String("measure-kubeconfig", "", "internal: the kubeconfig of the running API server")
	flag.Parse()
	var err error
	if *measure != "" {
		err = measureCache(*measure, *kind, *kubeconfig)
	} else {
		err = run(*count, *podsEach)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cachemem:", err)
		os.Exit(1)
	}
}

func run(count, podsEach int) error {
	env, err := testenv.Start()
	if err != nil {
		return fmt.Errorf("start envtest: %w", err)
	}
	defer func() { _ = env.Stop() }()

	cfg := *env.Config
	cfg.QPS, cfg.Burst = 2000, 4000
	c, err := client.New(&cfg, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	if err := fleet.Create(context.Background(), c, "cachemem", count, podsEach, nil); err != nil {
		return err
	}
	user, err := env.AddUser(envtest.User{Name: "cachemem", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	dir, err := os.MkdirTemp("", "cachemem")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		return err
	}

	type row struct{ kind, variant string }
	results := map[row]uint64{}
	for _, kind := range []string{"deployments", "pods"} {
		for _, variant := range []string{"without", "with"} {
			// go run builds a binary; re-run it as the child.
			out, err := exec.Command(os.Args[0], "-measure="+variant, "-measure-kind="+kind, "-measure-kubeconfig="+path).CombinedOutput()
			if err != nil {
				return fmt.Errorf("measure %s %s the transform: %w\n%s", kind, variant, err, out)
			}
			n, err := strconv.ParseUint(strings.TrimSpace(string(measure.LastLine(out))), 10, 64)
			if err != nil {
				return fmt.Errorf("read the %s %s measurement: %w\n%s", kind, variant, err, out)
			}
			results[row{kind, variant}] = n
		}
	}
	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	pods := count * podsEach
	fmt.Printf("Informer caches of %d Deployments and %d Pods, heap in use after sync and GC (runtime.MemStats.HeapInuse):\n\n", count, pods)
	fmt.Printf("| Informer | Cache | Heap in use | Per object |\n| --- | --- | --- | --- |\n")
	for _, kind := range []string{"deployments", "pods"} {
		n := count
		if kind == "pods" {
			n = pods
		}
		for _, v := range []struct{ variant, name string }{{"without", "controller-runtime default"}, {"with", "controllers.CacheOptions()"}} {
			b := results[row{kind, v.variant}]
			fmt.Printf("| %s | %s | %.1f MiB | %.2f KiB |\n", kind, v.name, mib(b), float64(b)/float64(max(n, 1))/1024)
		}
	}
	for _, kind := range []string{"deployments", "pods"} {
		fmt.Printf("\nRatio default / transformed, %s: %.2fx", kind, float64(results[row{kind, "without"}])/float64(max(results[row{kind, "with"}], 1)))
	}
	fmt.Println()
	return nil
}

// measureCache syncs one informer cache of Deployments or Pods and prints the
// heap in use, minus what the process held before the cache started.
func measureCache(variant, kind, kubeconfig string) error {
	kc, err := os.ReadFile(kubeconfig)
	if err != nil {
		return err
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kc)
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	opts := cache.Options{}
	if variant == "with" {
		opts = controllers.CacheOptions()
	}
	// CacheOptions names Baton's kinds too: the scheme must know them.
	sch := kruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(sch); err != nil {
		return err
	}
	if err := batonv1alpha1.AddToScheme(sch); err != nil {
		return err
	}
	opts.Scheme = sch
	c, err := cache.New(cfg, opts)
	if err != nil {
		return fmt.Errorf("create cache: %w", err)
	}
	baseline := measure.HeapInUse()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var obj client.Object = &appsv1.Deployment{}
	var list client.ObjectList = &appsv1.DeploymentList{}
	if kind == "pods" {
		obj, list = &corev1.Pod{}, &corev1.PodList{}
	}
	if _, err := c.GetInformer(ctx, obj); err != nil {
		return fmt.Errorf("get informer: %w", err)
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return fmt.Errorf("the cache did not sync")
	}
	if err := c.List(ctx, list); err != nil {
		return fmt.Errorf("list from the cache: %w", err)
	}
	n := meta.LenList(list)
	list = nil
	used := measure.HeapInUse() - baseline
	fmt.Fprintf(os.Stderr, "%s: %d %s cached\n", variant, n, kind)
	fmt.Println(used)
	return nil
}
