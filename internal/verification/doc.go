// Package verification evaluates an Environment's spec.verification.checks:
// pure functions that render a check's query, judge its result and fold it
// into the check's status, and the one Prometheus client that runs a query.
package verification
