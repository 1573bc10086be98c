package remote

import (
	"fmt"
	"net/url"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/outcome"
)

// userAgent is how Baton introduces itself to remote API servers, so that
// their audit logs say who called.
const userAgent = "baton-manager (remote)"

// Parse reads a kubeconfig from a Secret (named by secret, for messages)
// and returns the client configuration of its current context and the
// address of its API server. It refuses, with an *outcome.Stalled whose
// reason is KubeConfigInvalid or KubeConfigExecRefused, a kubeconfig that
// does not parse or has no usable current context, names a file on the
// manager's disk (certificate-authority, client-certificate, client-key,
// tokenFile), names a server other than https://, turns TLS verification
// off, or, unless allowExec, runs a program (exec, auth-provider).
func Parse(data []byte, secret string, allowExec bool) (*rest.Config, string, error) {
	invalid := func(format string, args ...any) error {
		return outcome.Stall(batonv1alpha1.KubeConfigInvalidReason, "the kubeconfig in Secret %s, key %q: %s",
			secret, batonv1alpha1.KubeConfigKey, fmt.Sprintf(format, args...))
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		// The decoder's message quotes no values, only positions.
		return nil, "", invalid("does not parse: %v", err)
	}
	name := cfg.CurrentContext
	kctx := cfg.Contexts[name]
	switch {
	case name == "":
		return nil, "", invalid("sets no current-context")
	case kctx == nil:
		return nil, "", invalid("current-context %q names no context", name)
	}
	cl, user := cfg.Clusters[kctx.Cluster], cfg.AuthInfos[kctx.AuthInfo]
	switch {
	case cl == nil:
		return nil, "", invalid("context %q names cluster %q, which is not in clusters", name, kctx.Cluster)
	case user == nil && kctx.AuthInfo != "":
		return nil, "", invalid("context %q names user %q, which is not in users", name, kctx.AuthInfo)
	}
	server := cl.Server
	if err := checkCluster(cl); err != nil {
		return nil, server, invalid("cluster %q: %v", kctx.Cluster, err)
	}
	if user != nil {
		if err := checkUser(user, allowExec); err != nil {
			if _, plugin := err.(execError); plugin {
				return nil, server, outcome.Stall(batonv1alpha1.KubeConfigExecRefusedReason,
					"the kubeconfig in Secret %s, key %q: user %q %v, which would run a program inside the manager; give it a token or a client certificate instead, or start the manager with --insecure-kubeconfig-exec",
					secret, batonv1alpha1.KubeConfigKey, kctx.AuthInfo, err)
			}
			return nil, server, invalid("user %q: %v", kctx.AuthInfo, err)
		}
	}
	if user != nil && user.Exec != nil {
		// The manager has no terminal: a plugin that would ask fails.
		user = user.DeepCopy()
		user.Exec.InteractiveMode = clientcmdapi.NeverExecInteractiveMode
	}
	// Only this context: nothing else in the file is read.
	only := clientcmdapi.NewConfig()
	only.Clusters[kctx.Cluster] = cl
	if user != nil {
		only.AuthInfos[kctx.AuthInfo] = user
	}
	only.Contexts[name] = kctx
	only.CurrentContext = name
	rc, err := clientcmd.NewNonInteractiveClientConfig(*only, name, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
	if err != nil {
		return nil, server, invalid("%v", err)
	}
	rc.UserAgent = userAgent
	return rc, server, nil
}

type execError string

func (e execError) Error() string { return string(e) }

func checkCluster(cl *clientcmdapi.Cluster) error {
	u, err := url.Parse(cl.Server)
	switch {
	case cl.Server == "":
		return fmt.Errorf("server is empty")
	case err != nil:
		return fmt.Errorf("server %q is not a URL", cl.Server)
	case u.Scheme != "https":
		return fmt.Errorf("server %s is not https://: the credentials would cross the network in the clear", cl.Server)
	case u.User != nil:
		return fmt.Errorf("server carries credentials in its URL; put them in the user")
	case cl.InsecureSkipTLSVerify:
		return fmt.Errorf("insecure-skip-tls-verify is set: Baton always verifies the API server's certificate; give certificate-authority-data instead")
	case cl.CertificateAuthority != "":
		return fmt.Errorf("certificate-authority names a file on the manager's disk; give certificate-authority-data instead")
	}
	return nil
}

func checkUser(u *clientcmdapi.AuthInfo, allowExec bool) error {
	switch {
	case u.Exec != nil && !allowExec:
		return execError("has an exec plugin (" + u.Exec.Command + ")")
	case u.AuthProvider != nil && !allowExec:
		return execError("has an auth-provider (" + u.AuthProvider.Name + ")")
	case u.ClientCertificate != "":
		return fmt.Errorf("client-certificate names a file on the manager's disk; give client-certificate-data instead")
	case u.ClientKey != "":
		return fmt.Errorf("client-key names a file on the manager's disk; give client-key-data instead")
	case u.TokenFile != "":
		return fmt.Errorf("tokenFile names a file on the manager's disk, such as the manager's own service account token; give token instead")
	}
	return nil
}
