// Package remote serves the Environments whose workloads run in another
// cluster (spec.cluster): it turns each kubeconfig Secret into a
// workload.Cluster over a cache of that cluster, started on first use,
// shared by every Environment that names the Secret, and stopped when none
// does any more.
//
// A kubeconfig is untrusted input: Parse refuses one that would run a
// program or read a file inside the manager, talk plain HTTP, or skip TLS
// verification. Errors name the API server's address, never credentials.
package remote
