// Package release builds, names and judges the release Job: the Job an
// Environment's spec.release runs once per Promotion, with the new image,
// before any workload changes.
package release
