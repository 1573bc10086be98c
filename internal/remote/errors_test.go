package remote

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/outcome"
)

func TestUnreachable(t *testing.T) {
	const server = "https://prod.example.com:6443"
	for _, tc := range []struct {
		name, reason, message string
		err                   error
	}{
		{"connection refused", batonv1alpha1.ClusterUnreachableReason, "dial tcp 10.0.0.1:6443: connect: connection refused",
			errors.New(`Get "https://prod.example.com:6443/version": dial tcp 10.0.0.1:6443: connect: connection refused`)},
		{"unknown authority", batonv1alpha1.ClusterNotTrustedReason, "certificate-authority-data",
			fmt.Errorf("Get %q: tls: failed to verify certificate: %w", server, x509.UnknownAuthorityError{})},
		{"wrong host", batonv1alpha1.ClusterNotTrustedReason, "tls-server-name",
			fmt.Errorf("Get %q: %w", server, x509.HostnameError{Certificate: &x509.Certificate{}, Host: "prod.example.com"})},
		{"credentials refused", batonv1alpha1.ClusterUnreachableReason, "refused the kubeconfig's credentials (401 Unauthorized)",
			apierrors.NewUnauthorized("Unauthorized")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, ok := outcome.AsWaiting(Unreachable(server, tc.err))
			if !ok || w.Reason != tc.reason || !strings.Contains(w.Message, tc.message) || !strings.Contains(w.Message, server) || w.RequeueAfter != RetryAfter {
				t.Errorf("Unreachable(%v) = %+v; want %s naming %s and %q", tc.err, w, tc.reason, server, tc.message)
			}
		})
	}
	for _, tc := range []struct {
		group, resource, role string
	}{
		{"apps", "deployments", "config/remote-cluster to it"},
		{"batch", "jobs", "config/remote-cluster/jobs to it"},
	} {
		w, _ := outcome.AsWaiting(forbidden(server, apierrors.NewForbidden(schema.GroupResource{Group: tc.group, Resource: tc.resource}, "", errors.New("no"))))
		if w == nil || w.Reason != batonv1alpha1.WorkloadNotAuthorizedReason || !strings.Contains(w.Message, tc.role) || !strings.Contains(w.Message, server) {
			t.Errorf("forbidden(%s) = %+v; want the Role of %s", tc.resource, w, tc.role)
		}
	}
}
