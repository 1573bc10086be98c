// Package health decides, from one judgement of a workload's rollout, what an
// Environment's status says: the current image, the soak towards
// verification, adoption and drift.
package health
