// Package install checks that what `make deploy` ships builds, installs on a
// real API server, and runs: the image recipe, the rendered kustomization,
// its RBAC, and the self-managed webhook certificate on two replicas.
package install
