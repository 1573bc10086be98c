package source

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/gitdelivery"
)

// Credentials authenticate to the application repository. They come from
// the same Secret keys as delivery.git's and are read the same way.
type Credentials = gitdelivery.Credentials

// ReadCredentials reads the Secret named by spec.source.git.secretRef with
// the uncached reader, from the Environment's namespace only. dir is where
// an SSH known_hosts file is written for the transport to read.
func ReadCredentials(ctx context.Context, reader client.Reader, env *batonv1alpha1.Environment, dir string) (*Credentials, error) {
	git := env.Spec.Source.Git
	return gitdelivery.ReadCredentials(ctx, reader, env.Namespace, git.URL, git.SecretRef, "spec.source.git", dir)
}

// RedactURLs removes the userinfo from every URL in s.
func RedactURLs(s string) string { return gitdelivery.RedactURLs(s) }
