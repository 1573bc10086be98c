package git

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/outcome"
)

// Keys of the credentials Secret.
const (
	// UsernameKey and PasswordKey are HTTPS basic auth. PasswordKey alone,
	// or TokenKey, is a token.
	UsernameKey = "username"
	PasswordKey = "password"
	TokenKey    = "token"
	// IdentityKey is an SSH private key (PEM, unencrypted); KnownHostsKey
	// holds the server's host keys in known_hosts format and is required.
	IdentityKey   = "identity"
	KnownHostsKey = "known_hosts"
)

// tokenUsername is sent with a token that comes without a username. GitHub,
// Gitea and Bitbucket accept any username with a token; GitLab wants
// "oauth2", which a Secret can give as username.
const tokenUsername = "git"

// Remote is a repository as an Environment names it.
type Remote struct {
	// Namespace is the Environment's: the only one a Secret is read from.
	Namespace string
	URL       string
	SecretRef *batonv1alpha1.LocalObjectReference
	// Field is the spec field that holds url and secretRef (delivery.git,
	// spec.source.git), for messages.
	Field string
	// Push is true when Baton writes to the repository, false when it only
	// reads it, for messages about what the credentials must allow.
	Push bool
	// Network is the manager's policy for hosts and plain HTTP.
	Network Network
}

// secretName names the Secret for messages: namespace/name.
func (r Remote) secretName() string {
	if r.SecretRef == nil {
		return "(none)"
	}
	return r.Namespace + "/" + r.SecretRef.Name
}

// Credentials are what a Git transport needs, plus the values that must
// never be shown.
type Credentials struct {
	// Auth is nil for anonymous access.
	Auth    transport.AuthMethod
	secrets []string
	// ID names the Secret and its version, for cache keys: a rotated Secret
	// gets a fresh clone rather than one fetched with old settings.
	ID     string
	remote Remote
}

// isSSH reports whether a repository URL is reached over SSH.
func isSSH(rawURL string) bool {
	if strings.HasPrefix(rawURL, "ssh://") {
		return true
	}
	return !strings.Contains(rawURL, "://") && strings.Contains(rawURL, "@")
}

// sshUser is the user of an ssh:// or scp-like URL, "git" when it has none.
func sshUser(rawURL string) string {
	if strings.HasPrefix(rawURL, "ssh://") {
		if u, err := url.Parse(rawURL); err == nil && u.User != nil && u.User.Username() != "" {
			return u.User.Username()
		}
		return "git"
	}
	if i := strings.Index(rawURL, "@"); i > 0 {
		return rawURL[:i]
	}
	return "git"
}

// checkURL refuses a URL that cannot be parsed or that carries a password:
// the Environment is readable by everyone who can read the namespace, and
// the password would end up in status and Events.
func checkURL(r Remote) error {
	if err := r.Network.check(r); err != nil {
		return err
	}
	if !strings.Contains(r.URL, "://") {
		return nil
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return outcome.Stall(batonv1alpha1.RepositoryNotFoundReason,
			"%s.url %q cannot be parsed: %s", r.Field, RedactURLs(r.URL), RedactURLs(err.Error()))
	}
	if _, has := u.User.Password(); has {
		return outcome.Stall(batonv1alpha1.GitCredentialsInvalidReason,
			"%s.url carries a password; remove it from the URL and put it in the Secret named by %s.secretRef (keys %s and %s)", r.Field, r.Field, UsernameKey, PasswordKey)
	}
	return nil
}

// ReadCredentials reads the Secret named by r.SecretRef with the uncached
// reader, from r.Namespace only. knownHostsDir is where an SSH known_hosts
// file is written for the transport to read. A problem a person must fix is
// an *outcome.Stalled.
func ReadCredentials(ctx context.Context, reader client.Reader, r Remote, knownHostsDir string) (*Credentials, error) {
	if err := checkURL(r); err != nil {
		return nil, err
	}
	ssh := isSSH(r.URL)
	if r.SecretRef == nil {
		if ssh {
			return nil, outcome.Stall(batonv1alpha1.GitCredentialsInvalidReason,
				"%s.url %s is an SSH URL, which needs %s.secretRef naming a Secret with keys %s and %s", r.Field, RedactURLs(r.URL), r.Field, IdentityKey, KnownHostsKey)
		}
		return &Credentials{ID: "anonymous", remote: r}, nil
	}
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: r.Namespace, Name: r.SecretRef.Name}
	if err := reader.Get(ctx, key, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, outcome.Stall(batonv1alpha1.GitCredentialsInvalidReason,
				"%s.secretRef: Secret %q does not exist in namespace %s", r.Field, key.Name, key.Namespace)
		}
		return nil, fmt.Errorf("read Secret %s: %w", key, err)
	}
	if err := checkSecretKind(r, secret); err != nil {
		return nil, err
	}
	creds := &Credentials{ID: key.String() + "@" + string(secret.UID) + "/" + secret.ResourceVersion, remote: r}
	for _, v := range secret.Data {
		creds.secrets = append(creds.secrets, secretFragments(v)...)
	}
	if ssh {
		return sshCredentials(r.URL, key, secret, creds, knownHostsDir)
	}
	return httpCredentials(key, secret, creds)
}

func httpCredentials(key client.ObjectKey, secret *corev1.Secret, creds *Credentials) (*Credentials, error) {
	user, pass, token := string(secret.Data[UsernameKey]), string(secret.Data[PasswordKey]), string(secret.Data[TokenKey])
	switch {
	case pass != "" && token != "":
		return nil, outcome.Stall(batonv1alpha1.GitCredentialsInvalidReason,
			"Secret %s has both %s and %s; keep one", key, PasswordKey, TokenKey)
	case token != "":
		pass = token
	case pass == "":
		return nil, outcome.Stall(batonv1alpha1.GitCredentialsInvalidReason,
			"Secret %s has neither %s nor %s, which an HTTPS repository needs", key, PasswordKey, TokenKey)
	}
	if user == "" {
		user = tokenUsername
	}
	creds.Auth = &githttp.BasicAuth{Username: user, Password: pass}
	return creds, nil
}

func sshCredentials(rawURL string, key client.ObjectKey, secret *corev1.Secret, creds *Credentials, dir string) (*Credentials, error) {
	identity, knownHosts := secret.Data[IdentityKey], secret.Data[KnownHostsKey]
	if len(identity) == 0 {
		identity = secret.Data[corev1.SSHAuthPrivateKey]
	}
	if len(identity) == 0 {
		return nil, outcome.Stall(batonv1alpha1.GitCredentialsInvalidReason,
			"Secret %s has no %s (the SSH private key) that the SSH URL needs", key, IdentityKey)
	}
	if len(bytes.TrimSpace(knownHosts)) == 0 {
		return nil, outcome.Stall(batonv1alpha1.GitCredentialsInvalidReason,
			"Secret %s has no %s; Baton never trusts an SSH host key it cannot check: add the server's keys, for example from `ssh-keyscan <host>`", key, KnownHostsKey)
	}
	signer, err := ssh.ParsePrivateKey(identity)
	if err != nil {
		// The parser's message is generic; it never quotes the key.
		return nil, outcome.Stall(batonv1alpha1.GitCredentialsInvalidReason,
			"Secret %s: %s is not an unencrypted SSH private key in PEM or OpenSSH format", key, IdentityKey)
	}
	if err := checkKnownHosts(knownHosts); err != nil {
		return nil, outcome.Stall(batonv1alpha1.GitCredentialsInvalidReason, "Secret %s: %s: %v", key, KnownHostsKey, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	file := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(file, knownHosts, 0o600); err != nil {
		return nil, fmt.Errorf("write known_hosts: %w", err)
	}
	callback, err := gitssh.NewKnownHostsCallback(file)
	if err != nil {
		return nil, outcome.Stall(batonv1alpha1.GitCredentialsInvalidReason, "Secret %s: %s cannot be read: %v", key, KnownHostsKey, err)
	}
	auth := &gitssh.PublicKeys{User: sshUser(rawURL), Signer: signer}
	auth.HostKeyCallback = callback
	creds.Auth = auth
	return creds, nil
}

// checkKnownHosts parses every non-comment line, so that a typo is reported
// as such and not later as an unknown host key.
func checkKnownHosts(data []byte) error {
	rest := data
	for len(bytes.TrimSpace(rest)) > 0 {
		_, _, _, _, next, err := ssh.ParseKnownHosts(rest)
		if err != nil {
			return fmt.Errorf("not in known_hosts format (one \"host key-type base64-key\" per line): %w", err)
		}
		rest = next
	}
	return nil
}

// checkSecretKind accepts only a Secret meant as Git credentials: of type
// kubernetes.io/basic-auth or kubernetes.io/ssh-auth, or labelled
// promotion.baton.dev/credentials: "true". Without this rule anyone who may
// edit an Environment could name any Secret of the namespace (a
// ServiceAccount token, a database password) and have Baton send it to a
// server of their choosing.
func checkSecretKind(r Remote, s *corev1.Secret) error {
	name := r.Namespace + "/" + s.Name
	switch {
	case s.Type == corev1.SecretTypeServiceAccountToken:
		return outcome.Stall(batonv1alpha1.GitCredentialsInvalidReason,
			"%s.secretRef: Secret %s is a ServiceAccount token (type %s); Baton never sends one to a Git server: name a Secret of type %s or %s, or one labelled %s=true",
			r.Field, name, s.Type, corev1.SecretTypeBasicAuth, corev1.SecretTypeSSHAuth, batonv1alpha1.CredentialsLabel)
	case s.Type == corev1.SecretTypeBasicAuth, s.Type == corev1.SecretTypeSSHAuth:
		return nil
	case s.Labels[batonv1alpha1.CredentialsLabel] == "true":
		return nil
	}
	typ := s.Type
	if typ == "" {
		typ = corev1.SecretTypeOpaque
	}
	return outcome.Stall(batonv1alpha1.GitCredentialsInvalidReason,
		"%s.secretRef: Secret %s (type %s) lacks the label %s=true; label it, or use a Secret of type %s or %s, so that only Secrets meant as Git credentials are sent to a Git server",
		r.Field, name, typ, batonv1alpha1.CredentialsLabel, corev1.SecretTypeBasicAuth, corev1.SecretTypeSSHAuth)
}
