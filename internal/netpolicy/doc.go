// Package netpolicy decides which hosts the manager may connect to when a
// user names a URL (a Git repository, a Prometheus), and which redirects it
// follows there.
package netpolicy
