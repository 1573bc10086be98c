// Package procs starts, finds and stops the local processes of a dev or e2e
// cluster, and lays out the ports they listen on; hack/dev/cluster and
// test/e2e/framework share it.
package procs
