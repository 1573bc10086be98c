// Package builder builds the Environments, Promotions and workloads that
// Baton's test suites create, so that each spec states only what it is about.
package builder
