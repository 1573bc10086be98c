package controllers

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/outcome"
	"github.com/baton-dev/baton/internal/promote"
	"github.com/baton-dev/baton/internal/registry"
	"github.com/baton-dev/baton/internal/workload"
)

// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get

// DigestResolver asks a registry which digest a reference names now
// (registry.Resolver in the manager).
type DigestResolver interface {
	Digest(ctx context.Context, ref string, keychain authn.Keychain) (string, error)
}

// lookupDigest asks the registry for the digest of ref with the pull
// secrets the Environment's workloads would pull it with. The error is a
// *registry.Error, or the reason the pull secrets could not be read.
func (r *PromotionReconciler) lookupDigest(ctx context.Context, env *batonv1alpha1.Environment, ref string) (promote.DigestOutcome, error) {
	out := promote.DigestOutcome{Image: ref}
	if r.Registry == nil {
		out.Err = &registry.Error{Kind: registry.Unreachable, Image: ref, Err: fmt.Errorf("this manager asks no registry")}
		return out, nil
	}
	secrets, err := r.pullSecrets(ctx, env)
	if err != nil {
		return out, err
	}
	keychain, err := registry.Keychain(ctx, secrets)
	if err != nil {
		// The parser's error may quote the content: name the Secrets only.
		names := make([]string, len(secrets))
		for i := range secrets {
			names[i] = secrets[i].Namespace + "/" + secrets[i].Name
		}
		out.Err = &registry.Error{Kind: registry.Unauthorized, Image: ref,
			Err: fmt.Errorf("one of the pull secrets %s is not a valid %s or %s Secret", strings.Join(names, ", "), corev1.SecretTypeDockerConfigJson, corev1.SecretTypeDockercfg)}
		return out, nil
	}
	out.Digest, out.Err = r.Registry.Digest(ctx, ref, keychain)
	log.FromContext(ctx).Info("asked the registry for the digest", "image", ref, "digest", out.Digest, "pullSecrets", len(secrets), "error", out.Err)
	return out, nil
}

// pullSecrets are the Secrets the kubelet would pull the Environment's
// image with: each workload's imagePullSecrets and those of its
// ServiceAccount, read uncached (the cache keeps neither), in the
// workload's namespace. Missing ones are left out, as the kubelet does; a
// workload that cannot be read gives none of its own, and neither does one
// in a remote cluster.
func (r *PromotionReconciler) pullSecrets(ctx context.Context, env *batonv1alpha1.Environment) ([]corev1.Secret, error) {
	if env.Spec.Cluster != nil {
		// They live in the other cluster, which the kubeconfig's Role does
		// not let Baton read: the registry is asked anonymously
		// (docs/clusters.md).
		return nil, nil
	}
	set, err := workload.NewLocal(r.Client, r.APIReader).GetUncached(ctx, env)
	if err != nil {
		if _, ok := outcome.AsStalled(err); ok || apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read the workloads' pull secrets: %w", err)
	}
	var secrets []corev1.Secret
	seen := map[client.ObjectKey]bool{}
	add := func(namespace string, refs []corev1.LocalObjectReference) error {
		for _, ref := range refs {
			key := client.ObjectKey{Namespace: namespace, Name: ref.Name}
			if ref.Name == "" || seen[key] {
				continue
			}
			seen[key] = true
			s := corev1.Secret{}
			switch err := r.APIReader.Get(ctx, key, &s); {
			case apierrors.IsNotFound(err):
			case err != nil:
				return fmt.Errorf("read pull secret %s: %w", key, err)
			default:
				secrets = append(secrets, s)
			}
		}
		return nil
	}
	for _, w := range set {
		spec := workload.PodSpec(w.Object)
		if spec == nil {
			continue
		}
		ns := w.Object.GetNamespace()
		if err := add(ns, spec.ImagePullSecrets); err != nil {
			return nil, err
		}
		name := spec.ServiceAccountName
		if name == "" {
			name = "default"
		}
		sa := corev1.ServiceAccount{}
		switch err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &sa); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("read ServiceAccount %s/%s: %w", ns, name, err)
		default:
			if err := add(ns, sa.ImagePullSecrets); err != nil {
				return nil, err
			}
		}
	}
	return secrets, nil
}
