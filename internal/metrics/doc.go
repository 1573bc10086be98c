// Package metrics defines Baton's Prometheus metrics, registered with the
// controller-runtime metrics registry that the manager serves.
package metrics
