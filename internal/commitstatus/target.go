package commitstatus

import (
	"fmt"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	batongit "github.com/baton-dev/baton/internal/git"
	"github.com/baton-dev/baton/internal/netpolicy"
)

// TokenKey is the key of spec.source.commitStatus.secretRef that holds the
// API token.
const TokenKey = "token"

const field = "spec.source.commitStatus"

// Resolve is where src reports, without the token: the provider and
// address (defaulted from the host of git.url), and the repository
// (defaulted from its path). allowed is the manager's --allowed-git-hosts;
// empty allows every host. Its errors name the field.
func Resolve(src *batonv1alpha1.Source, allowed []string) (Target, error) {
	cs := src.CommitStatus
	host, path, err := splitGitURL(src.Git.URL)
	if err != nil {
		return Target{}, fmt.Errorf("spec.source.git.url: %w", err)
	}
	t := Target{Provider: cs.Provider, Repository: cs.Repository}
	if t.Provider == "" {
		switch host {
		case "github.com":
			t.Provider = batonv1alpha1.CommitStatusGitHub
		case "gitlab.com":
			t.Provider = batonv1alpha1.CommitStatusGitLab
		default:
			return Target{}, fmt.Errorf("%s.provider: git.url is on %s, neither github.com nor gitlab.com; set provider to github, gitlab or gitea", field, host)
		}
	}
	address := cs.Address
	if address == "" {
		switch {
		case host == "github.com" && t.Provider == batonv1alpha1.CommitStatusGitHub:
			address = GitHubAPI
		case host == "gitlab.com" && t.Provider == batonv1alpha1.CommitStatusGitLab:
			address = GitLabAPI
		default:
			return Target{}, fmt.Errorf("%s.address: required for %s on %s (it defaults only for github.com and gitlab.com)", field, t.Provider, host)
		}
	}
	u, err := url.Parse(address)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return Target{}, fmt.Errorf("%s.address %q is not a base URL such as https://gitea.example.com", field, address)
	}
	if u.Scheme != "https" {
		return Target{}, fmt.Errorf("%s.address %q is %s://; the token travels only over https://", field, address, u.Scheme)
	}
	if len(allowed) > 0 && !netpolicy.Allows(allowed, u.Hostname()) {
		return Target{}, fmt.Errorf("%s.address names host %q, which is not in the manager's --allowed-git-hosts (%s); Baton connects to no other host",
			field, u.Hostname(), strings.Join(allowed, ","))
	}
	t.Address = u
	if t.Repository == "" {
		t.Repository = path
	}
	if t.Provider != batonv1alpha1.CommitStatusGitLab && strings.Count(t.Repository, "/") != 1 {
		return Target{}, fmt.Errorf("%s.repository: %s needs owner/name; %q is not (set repository)", field, t.Provider, t.Repository)
	}
	return t, nil
}

// splitGitURL is the host and repository path (without .git) of a Git URL.
func splitGitURL(raw string) (host, path string, err error) {
	_, host, path, err = batongit.SplitURL(raw)
	if err != nil || host == "" {
		return "", "", fmt.Errorf("cannot read a host and path from it")
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	return strings.ToLower(host), path, nil
}

// tokenOf checks a commit-status Secret and returns its token. Its errors
// name the field and the Secret, never a value.
func tokenOf(s *corev1.Secret) (string, error) {
	if s.Type != corev1.SecretTypeOpaque && s.Type != "" || s.Labels[batonv1alpha1.CredentialsLabel] != "true" {
		return "", fmt.Errorf("%s.secretRef: Secret %s must be of type Opaque and labelled %s=true; it is of type %q",
			field, s.Name, batonv1alpha1.CredentialsLabel, s.Type)
	}
	tok := strings.TrimSpace(string(s.Data[TokenKey]))
	if tok == "" {
		return "", fmt.Errorf("%s.secretRef: Secret %s has no key %q", field, s.Name, TokenKey)
	}
	return tok, nil
}
