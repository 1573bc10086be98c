// Package git holds what Baton's two Git clients share, delivery (one commit
// per Promotion) and source (merge to main): credentials from a Secret, the
// classification of transport errors into what a person must fix, and the
// redaction that keeps credentials out of every message.
package git
