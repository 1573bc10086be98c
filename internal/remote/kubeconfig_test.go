package remote

import (
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/outcome"
)

// kubeconfig is a usable kubeconfig, changed by edit.
func kubeconfig(t *testing.T, edit func(c *clientcmdapi.Config)) []byte {
	t.Helper()
	c := clientcmdapi.NewConfig()
	c.Clusters["prod"] = &clientcmdapi.Cluster{Server: "https://prod.example.com:6443", CertificateAuthorityData: []byte("-----BEGIN CERTIFICATE-----\n")}
	c.AuthInfos["baton"] = &clientcmdapi.AuthInfo{Token: "s3cr3t-token-value"}
	c.Contexts["prod"] = &clientcmdapi.Context{Cluster: "prod", AuthInfo: "baton"}
	c.CurrentContext = "prod"
	if edit != nil {
		edit(c)
	}
	data, err := clientcmd.Write(*c)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, reason, message string
		allowExec             bool
		edit                  func(c *clientcmdapi.Config)
		raw                   []byte
	}{
		{name: "not yaml", reason: batonv1alpha1.KubeConfigInvalidReason, message: "does not parse", raw: []byte("{: [")},
		{name: "no current context", reason: batonv1alpha1.KubeConfigInvalidReason, message: "sets no current-context",
			edit: func(c *clientcmdapi.Config) { c.CurrentContext = "" }},
		{name: "current context missing", reason: batonv1alpha1.KubeConfigInvalidReason, message: `current-context "gone" names no context`,
			edit: func(c *clientcmdapi.Config) { c.CurrentContext = "gone" }},
		{name: "cluster missing", reason: batonv1alpha1.KubeConfigInvalidReason, message: `names cluster "prod", which is not in clusters`,
			edit: func(c *clientcmdapi.Config) { delete(c.Clusters, "prod") }},
		{name: "user missing", reason: batonv1alpha1.KubeConfigInvalidReason, message: `names user "baton", which is not in users`,
			edit: func(c *clientcmdapi.Config) { delete(c.AuthInfos, "baton") }},
		{name: "plain http", reason: batonv1alpha1.KubeConfigInvalidReason, message: "is not https://",
			edit: func(c *clientcmdapi.Config) { c.Clusters["prod"].Server = "http://prod.example.com:8080" }},
		{name: "credentials in the URL", reason: batonv1alpha1.KubeConfigInvalidReason, message: "carries credentials in its URL",
			edit: func(c *clientcmdapi.Config) { c.Clusters["prod"].Server = "https://admin:hunter2@prod.example.com" }},
		{name: "skip TLS verify", reason: batonv1alpha1.KubeConfigInvalidReason, message: "insecure-skip-tls-verify",
			edit: func(c *clientcmdapi.Config) {
				c.Clusters["prod"].CertificateAuthorityData, c.Clusters["prod"].InsecureSkipTLSVerify = nil, true
			}},
		{name: "CA file", reason: batonv1alpha1.KubeConfigInvalidReason, message: "certificate-authority names a file",
			edit: func(c *clientcmdapi.Config) { c.Clusters["prod"].CertificateAuthority = "/etc/kubernetes/pki/ca.crt" }},
		{name: "client certificate file", reason: batonv1alpha1.KubeConfigInvalidReason, message: "client-certificate names a file",
			edit: func(c *clientcmdapi.Config) { c.AuthInfos["baton"].ClientCertificate = "/etc/kubernetes/pki/admin.crt" }},
		{name: "client key file", reason: batonv1alpha1.KubeConfigInvalidReason, message: "client-key names a file",
			edit: func(c *clientcmdapi.Config) { c.AuthInfos["baton"].ClientKey = "/etc/kubernetes/pki/admin.key" }},
		{name: "the manager's token file", reason: batonv1alpha1.KubeConfigInvalidReason, message: "tokenFile names a file",
			edit: func(c *clientcmdapi.Config) {
				c.AuthInfos["baton"].Token, c.AuthInfos["baton"].TokenFile = "", "/var/run/secrets/kubernetes.io/serviceaccount/token"
			}},
		{name: "exec", reason: batonv1alpha1.KubeConfigExecRefusedReason, message: "exec plugin (aws)",
			edit: func(c *clientcmdapi.Config) {
				c.AuthInfos["baton"].Exec = &clientcmdapi.ExecConfig{Command: "aws", Args: []string{"eks", "get-token"}, APIVersion: "client.authentication.k8s.io/v1"}
			}},
		{name: "auth-provider", reason: batonv1alpha1.KubeConfigExecRefusedReason, message: "auth-provider (oidc)",
			edit: func(c *clientcmdapi.Config) {
				c.AuthInfos["baton"].AuthProvider = &clientcmdapi.AuthProviderConfig{Name: "oidc", Config: map[string]string{"client-secret": "oidc-secret"}}
			}},
		{name: "exec allowed, files still refused", allowExec: true, reason: batonv1alpha1.KubeConfigInvalidReason, message: "tokenFile names a file",
			edit: func(c *clientcmdapi.Config) {
				c.AuthInfos["baton"].Exec = &clientcmdapi.ExecConfig{Command: "aws", APIVersion: "client.authentication.k8s.io/v1"}
				c.AuthInfos["baton"].TokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.raw
			if data == nil {
				data = kubeconfig(t, tc.edit)
			}
			cfg, _, err := Parse(data, "shop/prod-cluster", tc.allowExec)
			s, ok := outcome.AsStalled(err)
			if !ok || cfg != nil {
				t.Fatalf("Parse = %v, %v; want a refusal", cfg, err)
			}
			if s.Reason != tc.reason || !strings.Contains(s.Message, tc.message) {
				t.Errorf("Parse refused with %s: %q; want %s containing %q", s.Reason, s.Message, tc.reason, tc.message)
			}
			if !strings.Contains(s.Message, "shop/prod-cluster") {
				t.Errorf("message %q does not name the Secret", s.Message)
			}
			for _, secret := range []string{"s3cr3t-token-value", "hunter2", "oidc-secret", "get-token"} {
				if strings.Contains(s.Message, secret) {
					t.Errorf("message %q carries %q", s.Message, secret)
				}
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	cfg, server, err := Parse(kubeconfig(t, func(c *clientcmdapi.Config) {
		// Another context, which is never read, may be anything.
		c.Clusters["dev"] = &clientcmdapi.Cluster{Server: "http://localhost:8080", InsecureSkipTLSVerify: true}
		c.Contexts["dev"] = &clientcmdapi.Context{Cluster: "dev"}
	}), "shop/prod-cluster", false)
	if err != nil {
		t.Fatal(err)
	}
	if server != "https://prod.example.com:6443" || cfg.Host != server || cfg.BearerToken != "s3cr3t-token-value" || cfg.Insecure {
		t.Errorf("Parse = host %q, token set %v, insecure %v, server %q", cfg.Host, cfg.BearerToken != "", cfg.Insecure, server)
	}
	if cfg.UserAgent != userAgent {
		t.Errorf("UserAgent = %q", cfg.UserAgent)
	}
	if _, _, err := Parse(kubeconfig(t, func(c *clientcmdapi.Config) {
		c.AuthInfos["baton"].Token = ""
		c.AuthInfos["baton"].Exec = &clientcmdapi.ExecConfig{Command: "aws", APIVersion: "client.authentication.k8s.io/v1"}
	}), "shop/prod-cluster", true); err != nil {
		t.Errorf("with --insecure-kubeconfig-exec, an exec kubeconfig is accepted: %v", err)
	}
}
