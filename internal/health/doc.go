// Package health judges a workload's rollout exactly as `kubectl rollout
// status` does, and decides from that judgement what an Environment's status
// says: the current image, the soak towards verification, adoption and drift.
package health
