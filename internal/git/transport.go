package git

import (
	"errors"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/crypto/ssh/knownhosts"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/outcome"
)

// Classify returns the *outcome.Stalled for a transport error that a person
// must fix (an unknown host key, refused credentials, a missing or empty
// repository), err itself when it is already Stalled, and nil for anything
// retrying may cure. Messages name the spec field and the Secret, never a
// credential.
func (c *Credentials) Classify(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := outcome.AsStalled(err); ok {
		return err
	}
	var r Remote
	if c != nil {
		r = c.remote
	}
	u := RedactURLs(r.URL)
	access := "read"
	if r.Push {
		access = "push to"
	}
	msg := err.Error()
	var keyErr *knownhosts.KeyError
	switch {
	case errors.As(err, &keyErr) || strings.Contains(msg, "knownhosts: key is unknown") || strings.Contains(msg, "knownhosts: key mismatch"):
		return outcome.Stall(batonv1alpha1.HostKeyUnknownReason,
			"the SSH host key of %s is not in %s of Secret %s (%s.secretRef); if the server is the one you expect, add its key (for example from `ssh-keyscan`)",
			u, KnownHostsKey, r.secretName(), r.Field)
	case errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) ||
		strings.Contains(msg, "unable to authenticate"):
		if r.SecretRef == nil {
			return outcome.Stall(batonv1alpha1.AuthenticationFailedReason,
				"%s refused anonymous access; set %s.secretRef to a Secret with credentials that may %s the repository", u, r.Field, access)
		}
		return outcome.Stall(batonv1alpha1.AuthenticationFailedReason,
			"%s refused the credentials in Secret %s (%s.secretRef); check that they are current and may %s the repository", u, r.secretName(), r.Field, access)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return outcome.Stall(batonv1alpha1.RepositoryNotFoundReason,
			"%s.url: %s does not exist, or the credentials cannot see it", r.Field, u)
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return outcome.Stall(batonv1alpha1.RepositoryNotFoundReason,
			"%s.url: %s has no commits; push an initial commit first", r.Field, u)
	}
	return nil
}
