// Command cachemem measures how much heap the manager's informer cache holds
// for 10,000 Deployments, with and without Baton's cache transform
// (controllers.CacheOptions). It starts a real kube-apiserver and etcd
// (envtest), creates the Deployments, then measures each variant in a fresh
// child process so that one does not inherit the other's garbage.
//
//	KUBEBUILDER_ASSETS=$PWD/bin/k8s/v1.37.2-etcd-v3.7.0 go run ./hack/cachemem
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/baton-dev/baton/controllers"
	"github.com/baton-dev/baton/internal/testenv"
)

func main() {
	count := flag.Int("deployments", 10000, "how many Deployments to create")
	measure := flag.String("measure", "", "internal: measure one variant (with or without) against -measure-kubeconfig")
	kubeconfig := flag.String("measure-kubeconfig", "", "internal: the kubeconfig of the running API server")
	flag.Parse()
	var err error
	if *measure != "" {
		err = measureCache(*measure, *kubeconfig)
	} else {
		err = run(*count)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cachemem:", err)
		os.Exit(1)
	}
}

func run(count int) error {
	env, err := testenv.Start()
	if err != nil {
		return fmt.Errorf("start envtest: %w", err)
	}
	defer func() { _ = env.Stop() }()

	cfg := *env.Config
	cfg.QPS, cfg.Burst = 2000, 4000
	c, err := client.New(&cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	if err := createDeployments(context.Background(), c, count); err != nil {
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

	results := map[string]uint64{}
	for _, variant := range []string{"without", "with"} {
		// go run builds a binary; re-run it as the child.
		out, err := exec.Command(os.Args[0], "-measure="+variant, "-measure-kubeconfig="+path).CombinedOutput()
		if err != nil {
			return fmt.Errorf("measure %s the transform: %w\n%s", variant, err, out)
		}
		n, err := strconv.ParseUint(strings.TrimSpace(string(lastLine(out))), 10, 64)
		if err != nil {
			return fmt.Errorf("read the %s measurement: %w\n%s", variant, err, out)
		}
		results[variant] = n
	}
	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	fmt.Printf("Informer cache of %d Deployments, heap in use after sync and GC (runtime.MemStats.HeapInuse):\n\n", count)
	fmt.Printf("| Cache | Heap in use | Per Deployment |\n| --- | --- | --- |\n")
	fmt.Printf("| controller-runtime default | %.1f MiB | %.1f KiB |\n", mib(results["without"]), float64(results["without"])/float64(count)/1024)
	fmt.Printf("| controllers.CacheOptions() | %.1f MiB | %.1f KiB |\n", mib(results["with"]), float64(results["with"])/float64(count)/1024)
	fmt.Printf("\nRatio default / transformed: %.2fx\n", float64(results["without"])/float64(results["with"]))
	return nil
}

func lastLine(b []byte) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return lines[len(lines)-1]
}

// measureCache syncs one informer cache of Deployments and prints the heap
// in use, minus what the process held before the cache started.
func measureCache(variant, kubeconfig string) error {
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
	opts.Scheme = scheme.Scheme
	c, err := cache.New(cfg, opts)
	if err != nil {
		return fmt.Errorf("create cache: %w", err)
	}
	baseline := heapInUse()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := c.GetInformer(ctx, &appsv1.Deployment{}); err != nil {
		return fmt.Errorf("get informer: %w", err)
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return fmt.Errorf("the cache did not sync")
	}
	var list appsv1.DeploymentList
	if err := c.List(ctx, &list); err != nil {
		return fmt.Errorf("list from the cache: %w", err)
	}
	n := len(list.Items)
	list = appsv1.DeploymentList{}
	used := heapInUse() - baseline
	fmt.Fprintf(os.Stderr, "%s: %d Deployments cached\n", variant, n)
	fmt.Println(used)
	return nil
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func createDeployments(ctx context.Context, c client.Client, count int) error {
	const workers = 16
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cachemem"}}
	if err := c.Create(ctx, ns); err != nil {
		return fmt.Errorf("create namespace: %w", err)
	}
	jobs := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := c.Create(ctx, realisticDeployment(ns.Name, i)); err != nil {
					errs <- fmt.Errorf("create Deployment %d: %w", i, err)
					return
				}
			}
		}()
	}
	for i := range count {
		select {
		case jobs <- i:
		case err := <-errs:
			close(jobs)
			return err
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// realisticDeployment is shaped like a typical application Deployment: two
// containers with ports, env, resources, probes and a volume. It carries no
// kubectl last-applied annotation, so the figures do not flatter the
// transform.
func realisticDeployment(ns string, i int) *appsv1.Deployment {
	name := fmt.Sprintf("app-%05d", i)
	labels := map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "shop", "team": "payments"}
	var env []corev1.EnvVar
	for j := range 12 {
		env = append(env, corev1.EnvVar{Name: fmt.Sprintf("SETTING_%02d", j), Value: fmt.Sprintf("value-%d-%d", i, j)})
	}
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 10}
	resources := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels,
			Annotations: map[string]string{"owner": "payments@example.com"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{
						{Name: "web", Image: "registry.example.com/shop/" + name + ":1.0.0", Env: env, Resources: resources,
							Ports:         []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
							LivenessProbe: probe, ReadinessProbe: probe,
							VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/app"}}},
						{Name: "proxy", Image: "registry.example.com/envoy:1.30", Resources: resources,
							Ports: []corev1.ContainerPort{{Name: "admin", ContainerPort: 9901}}},
					},
					Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
						LocalObjectReference: corev1.LocalObjectReference{Name: name + "-config"}}}}},
				},
			},
		},
	}
}
