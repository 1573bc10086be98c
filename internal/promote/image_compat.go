package promote

import "github.com/baton-dev/baton/internal/image"

// Image is a parsed image reference.
//
// Deprecated: use image.Ref.
type Image = image.Ref

// ParseImage parses an image reference.
//
// Deprecated: use image.Parse.
func ParseImage(ref string) (Image, error) { return image.Parse(ref) }

// SameImage reports whether two references name the same image.
//
// Deprecated: use image.Same.
func SameImage(a, aDigest, b, bDigest string) bool { return image.Same(a, aDigest, b, bDigest) }

// PinnedRef returns image pinned by digest when pin is set.
//
// Deprecated: use image.Pin.
func PinnedRef(ref, digest string, pin bool) string {
	if !pin {
		return ref
	}
	return image.Pin(ref, digest)
}
