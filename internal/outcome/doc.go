// Package outcome is the one way Baton's packages report how an attempt
// ended: Stalled (a person must act), Waiting (Baton looks again at a given
// time), or any other error, which is retried with backoff.
package outcome
