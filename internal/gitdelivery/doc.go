// Package gitdelivery delivers Promotions as commits to their Environments'
// config repository, one signed trailer block per Promotion and the
// Promotions queued for one branch in one commit, which a GitOps engine
// (Argo CD, Flux) then applies.
package gitdelivery
