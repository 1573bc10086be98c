// Package certs lets the manager issue, rotate and publish its own webhook
// serving certificate, so that Baton installs without cert-manager.
package certs
