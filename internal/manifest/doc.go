// Package manifest makes the smallest textual change to a config repository
// checkout that sets an environment's image, through a kustomization, a YAML
// field or Helm values.
package manifest
