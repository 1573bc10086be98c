package remote

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/outcome"
)

// Unreachable is the answer for an API server that did not answer, or not
// as the kubeconfig expects: an *outcome.Waiting with reason
// ClusterNotTrusted for a certificate the kubeconfig's CA did not sign, and
// ClusterUnreachable for everything else. The message names the server,
// never credentials.
func Unreachable(server string, err error) error {
	var unknownAuthority x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	switch {
	case errors.As(err, &unknownAuthority), errors.As(err, &invalid), errors.As(err, &hostname),
		strings.Contains(err.Error(), "x509: "):
		return outcome.Wait(RetryAfter, batonv1alpha1.ClusterNotTrustedReason,
			"the API server %s of spec.cluster presented a certificate the kubeconfig does not trust: %v; fix certificate-authority-data (or tls-server-name) in the kubeconfig Secret", server, err)
	case apierrors.IsUnauthorized(err):
		return outcome.Wait(RetryAfter, batonv1alpha1.ClusterUnreachableReason,
			"the API server %s of spec.cluster refused the kubeconfig's credentials (401 Unauthorized); put valid ones in the kubeconfig Secret", server)
	}
	return outcome.Wait(RetryAfter, batonv1alpha1.ClusterUnreachableReason,
		"cannot reach the API server %s of spec.cluster: %v; Baton tries again", server, err)
}

// forbidden is the answer for an identity that may not read the workloads:
// a person must bind the Role, in the other cluster, where no event tells
// Baton, so it is a Waiting that looks again.
func forbidden(server string, err error) error {
	if s, ok := asStatus(err); ok && s.Details != nil && s.Details.Group == "batch" {
		return outcome.Wait(RetryAfter, batonv1alpha1.WorkloadNotAuthorizedReason,
			"the kubeconfig's identity may not manage Jobs in the cluster at %s, where the Environment's release Job or job checks run: %v; bind the Role in config/remote-cluster/jobs to it there, in the namespace of the first workload (docs/clusters.md)", server, s.Message)
	}
	return outcome.Wait(RetryAfter, batonv1alpha1.WorkloadNotAuthorizedReason,
		"the kubeconfig's identity may not read the workloads in the cluster at %s: %v; bind the Role in config/remote-cluster to it there (docs/clusters.md)", server, trimStatus(err))
}

func trimStatus(err error) string {
	if s, ok := asStatus(err); ok {
		return s.Message
	}
	return fmt.Sprint(err)
}

func asStatus(err error) (metav1.Status, bool) {
	var s apierrors.APIStatus
	if errors.As(err, &s) {
		return s.Status(), true
	}
	return metav1.Status{}, false
}

// FixedInSecret reports whether a refusal is fixed by writing the
// kubeconfig Secret. The manager does not watch Secrets, so an Environment
// refused for one of these looks again after RetryAfter.
func FixedInSecret(reason string) bool {
	switch reason {
	case batonv1alpha1.KubeConfigNotFoundReason, batonv1alpha1.KubeConfigKeyNotFoundReason,
		batonv1alpha1.KubeConfigInvalidReason, batonv1alpha1.KubeConfigExecRefusedReason:
		return true
	}
	return false
}
