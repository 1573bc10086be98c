// Package identity records who requested, approved and canceled a Promotion
// from the authenticated admission request, authorizes it, and seals it with
// an HMAC marker that the Promotion engine verifies.
package identity
