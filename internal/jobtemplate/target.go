package jobtemplate

import (
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// EnvironmentNamespaceLabel is on every Job Baton runs in a remote cluster
// (spec.cluster): the namespace of its Environment in the management
// cluster, which the Environment's name label alone does not say there.
const EnvironmentNamespaceLabel = "promotion.baton.dev/environment-namespace"

// RemoteTTL is the ttlSecondsAfterFinished of a Job in a remote cluster:
// its owner lives in another cluster, so no garbage collector deletes it
// with its Environment or Promotion. Baton prunes them by count as it
// does its local ones; the TTL removes those of an Environment that is
// gone.
const RemoteTTL int32 = 7 * 24 * 60 * 60

// Target is where an Environment's Jobs run, its release Jobs and the Jobs
// of its job checks: the cluster of its workloads. In the manager's own
// cluster that is the Environment's namespace, and each Job is owned by
// its Environment or Promotion. In a remote cluster it is the namespace of
// the Environment's first workload, and a Job carries
// EnvironmentNamespaceLabel and RemoteTTL instead of an owner reference.
type Target struct {
	// Client reads Baton's Jobs through a cache, and creates and deletes
	// them.
	Client client.Client
	// Reader reads that cluster uncached: Jobs a decision acts on, and
	// their Pods.
	Reader client.Reader
	// Namespace is where the Jobs are.
	Namespace string
	// Remote is set for a cluster other than the manager's.
	Remote bool
	// EnvironmentNamespace is the Environment's namespace in the manager's
	// cluster.
	EnvironmentNamespace string
}

// Place puts job, built for the Environment's namespace with an owner
// reference, where t runs it.
func (t Target) Place(job *batchv1.Job) {
	job.Namespace = t.Namespace
	if !t.Remote {
		return
	}
	job.OwnerReferences = nil
	if job.Labels == nil {
		job.Labels = map[string]string{}
	}
	job.Labels[EnvironmentNamespaceLabel] = t.EnvironmentNamespace
	if job.Spec.TTLSecondsAfterFinished == nil {
		job.Spec.TTLSecondsAfterFinished = ptr.To(RemoteTTL)
	}
}

// Selector narrows labels, which select an Environment's Jobs by its name,
// to that Environment in t: in a remote cluster, the Environments of two
// namespaces of the management cluster may share a namespace.
func (t Target) Selector(labels map[string]string) client.MatchingLabels {
	out := client.MatchingLabels{}
	for k, v := range labels {
		out[k] = v
	}
	if t.Remote {
		out[EnvironmentNamespaceLabel] = t.EnvironmentNamespace
	}
	return out
}
