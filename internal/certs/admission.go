package certs

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// admissionConfiguration makes kube-apiserver's two webhook admission
// plugins read kubeConfigFile for the credentials to present to webhooks.
const admissionConfiguration = `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: MutatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: %[1]q
- name: ValidatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: %[1]q
`

// WriteAdmissionConfig writes, into dir, the file for kube-apiserver's
// --admission-control-config-file that makes it present client to the
// webhook at hostPort ("127.0.0.1:9443", or "<service>.<namespace>.svc:443"
// for a webhook behind a Service), and returns its path. The kubeconfig's
// user entry is named after hostPort: that is how the API server picks the
// credentials for a webhook it calls.
func WriteAdmissionConfig(dir, hostPort string, client KeyPair) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	kubeconfig := filepath.Join(dir, "webhook-client.kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.AuthInfos[hostPort] = &clientcmdapi.AuthInfo{ClientCertificateData: client.Cert, ClientKeyData: client.Key}
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		return "", fmt.Errorf("write %s: %w", kubeconfig, err)
	}
	if err := os.Chmod(kubeconfig, 0o600); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "admission-configuration.yaml")
	if err := os.WriteFile(path, fmt.Appendf(nil, admissionConfiguration, kubeconfig), 0o600); err != nil {
		return "", err
	}
	return path, nil
}
