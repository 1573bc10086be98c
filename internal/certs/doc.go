// Package certs lets the manager issue, rotate and publish its own webhook
// serving certificate, so that Baton installs without cert-manager, and
// makes the webhook answer only the API server's client certificate.
package certs
