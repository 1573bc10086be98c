package gitdelivery

import batongit "github.com/baton-dev/baton/internal/git"

// RedactURLs removes the userinfo from every URL in s.
//
// Deprecated: use internal/git.RedactURLs; this goes once the Promotion
// controller imports it from there.
func RedactURLs(s string) string { return batongit.RedactURLs(s) }
