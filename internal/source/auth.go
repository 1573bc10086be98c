package source

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	batongit "github.com/baton-dev/baton/internal/git"
)

// ReadCredentials reads the Secret named by spec.source.git.secretRef with
// the uncached reader, from the Environment's namespace only: the same keys
// as delivery.git's, read the same way. dir is where an SSH known_hosts file
// is written for the transport to read; network is the manager's policy for
// hosts and plain HTTP.
func ReadCredentials(ctx context.Context, reader client.Reader, env *batonv1alpha1.Environment, dir string, network batongit.Network) (*batongit.Credentials, error) {
	git := env.Spec.Source.Git
	remote := batongit.Remote{Namespace: env.Namespace, URL: git.URL, SecretRef: git.SecretRef, Field: "spec.source.git", Network: network}
	return batongit.ReadCredentials(ctx, reader, remote, dir)
}
