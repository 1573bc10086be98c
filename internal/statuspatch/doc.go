// Package statuspatch is the one deferred status write every Baton
// reconciler uses: a merge patch of the status with optimistic concurrency,
// sent only when the status changed, with Events and metrics emitted only
// after it succeeded.
package statuspatch
