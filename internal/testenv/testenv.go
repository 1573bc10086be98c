package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"

	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// Env is a running control plane with Baton's CRDs installed.
type Env struct {
	*envtest.Environment
	// Config authenticates as a cluster admin.
	Config *rest.Config
	// Client is a direct, uncached client with the admin's identity.
	Client client.Client
}

// RepoRoot is the root of the Baton module, found from this file's path so
// that suites in any package can locate config/.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Start starts kube-apiserver and etcd from KUBEBUILDER_ASSETS, which
// `make test` sets to the binaries it builds in bin/k8s/.
func Start() (*Env, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run the suites with `make test`, which builds kube-apiserver and etcd into bin/k8s/ and points KUBEBUILDER_ASSETS at them")
	}
	if err := batonv1alpha1.AddToScheme(scheme.Scheme); err != nil {
		return nil, err
	}
	te := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	return start(te)
}

// start starts te and connects an admin client to it.
func start(te *envtest.Environment) (*Env, error) {
	cfg, err := te.Start()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		_ = te.Stop()
		return nil, err
	}
	return &Env{Environment: te, Config: cfg, Client: c}, nil
}
