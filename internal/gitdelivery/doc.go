// Package gitdelivery delivers a Promotion as one commit to an Environment's
// config repository, which a GitOps engine (Argo CD, Flux) then applies.
package gitdelivery
