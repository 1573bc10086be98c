// Package workload reads, authorizes, judges and changes the workload an
// Environment names, behind an Accessor, so that a workload in another
// cluster can one day be served by another implementation.
package workload
