package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// Remote is a second control plane, etcd and kube-apiserver without
// Baton's CRDs, standing in for the cluster of an Environment's
// spec.cluster.
type Remote struct {
	Env
	dir string
}

// StartRemote starts it. Its serving certificate lives in a directory of
// its own, so that StopAPIServer and StartAPIServer keep the address and
// the CA a kubeconfig trusts.
func StartRemote() (*Remote, error) {
	dir, err := os.MkdirTemp("", "baton-remote-apiserver-")
	if err != nil {
		return nil, err
	}
	te := &envtest.Environment{}
	te.ControlPlane.GetAPIServer().CertDir = dir
	// A stop is a kill after this: StopAPIServer plays a cluster that goes
	// away, not a graceful shutdown that waits for the watches to drain.
	te.ControlPlane.GetAPIServer().StopTimeout = killAfter
	env, err := start(te)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return &Remote{Env: *env, dir: dir}, nil
}

// Stop stops the control plane and removes its certificates.
func (r *Remote) Stop() error {
	if err := r.StopAPIServer(); err != nil {
		return err
	}
	err := r.Environment.Stop()
	_ = os.RemoveAll(r.dir)
	return err
}

// killAfter is how long kube-apiserver may take to stop on SIGTERM before
// it is sent SIGKILL.
const killAfter = 2 * time.Second

// StopAPIServer stops kube-apiserver, killing it if it does not stop at
// once, as a cluster that goes away; etcd keeps the objects.
func (r *Remote) StopAPIServer() error {
	err := r.ControlPlane.GetAPIServer().Stop()
	if err != nil && strings.HasPrefix(err.Error(), "timeout waiting for process") {
		return nil // killed: the process state says so with this error
	}
	return err
}

// StartAPIServer starts it again, on the same address with the same
// certificate.
func (r *Remote) StartAPIServer() error {
	return r.ControlPlane.GetAPIServer().Start()
}

// KubeConfig is a kubeconfig for a new user, authenticated by a client
// certificate, bound in each namespace (created when missing) to the Role
// in config/remote-cluster/role.yaml, and to nothing else.
func (r *Remote) KubeConfig(ctx context.Context, user string, namespaces ...string) ([]byte, error) {
	return r.kubeConfig(ctx, user, []string{"role.yaml"}, namespaces)
}

// KubeConfigWithJobs is KubeConfig with the Role in
// config/remote-cluster/jobs/role.yaml bound too: what an Environment
// that runs Jobs there needs.
func (r *Remote) KubeConfigWithJobs(ctx context.Context, user string, namespaces ...string) ([]byte, error) {
	return r.kubeConfig(ctx, user, []string{"role.yaml", filepath.Join("jobs", "role.yaml")}, namespaces)
}

func (r *Remote) kubeConfig(ctx context.Context, user string, files []string, namespaces []string) ([]byte, error) {
	var roles []*rbacv1.Role
	for _, file := range files {
		data, err := os.ReadFile(filepath.Join(RepoRoot(), "config", "remote-cluster", file))
		if err != nil {
			return nil, err
		}
		role := &rbacv1.Role{}
		if err := yaml.UnmarshalStrict(data, role); err != nil {
			return nil, fmt.Errorf("config/remote-cluster/%s: %w", file, err)
		}
		roles = append(roles, role)
	}
	for _, ns := range namespaces {
		if err := r.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, err
		}
		for _, role := range roles {
			role := role.DeepCopy()
			role.Namespace = ns
			if err := r.Client.Create(ctx, role); err != nil && !apierrors.IsAlreadyExists(err) {
				return nil, err
			}
			binding := &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: role.Name + "-" + user},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
				Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
			}
			if err := r.Client.Create(ctx, binding); err != nil && !apierrors.IsAlreadyExists(err) {
				return nil, err
			}
		}
	}
	u, err := r.AddUser(envtest.User{Name: user}, nil)
	if err != nil {
		return nil, err
	}
	return u.KubeConfig()
}
