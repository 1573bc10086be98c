package promote

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Image is a parsed image reference.
type Image struct {
	// Ref is the reference as the user wrote it.
	Ref string
	// Name is the normalized reference: registry, repository and tag or
	// digest, with Docker Hub's defaults filled in.
	Name string
	// Digest is the sha256 digest when the reference carries one.
	Digest string
}

// ParseImage parses an image reference the way container runtimes do.
func ParseImage(ref string) (Image, error) {
	if strings.TrimSpace(ref) != ref || ref == "" {
		return Image{}, fmt.Errorf("image reference %q is empty or has surrounding space", ref)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return Image{}, fmt.Errorf("image reference %q: %w", ref, err)
	}
	img := Image{Ref: ref, Name: r.Name()}
	if d, ok := r.(name.Digest); ok {
		img.Digest = d.DigestStr()
		// A digest reference names its content; the tag beside it is only
		// decoration, so compare on repository@digest.
		img.Name = d.Context().Name() + "@" + img.Digest
	}
	return img, nil
}

// SameImage reports whether two references name the same image: by digest
// when both sides know it, and by the normalized reference otherwise. The
// digests may come from the references themselves or be given separately
// (for example from a status field); an unparsable reference matches nothing.
func SameImage(a, aDigest, b, bDigest string) bool {
	ia, errA := ParseImage(a)
	ib, errB := ParseImage(b)
	if errA != nil || errB != nil {
		return false
	}
	if aDigest == "" {
		aDigest = ia.Digest
	}
	if bDigest == "" {
		bDigest = ib.Digest
	}
	if aDigest != "" && bDigest != "" {
		return aDigest == bDigest
	}
	return ia.Name == ib.Name
}

// PinnedRef returns the reference to write for image: repository@digest when
// pin is set and the digest is known, and image unchanged otherwise. The
// repository is kept as the user spelled it.
func PinnedRef(image, digest string, pin bool) string {
	if !pin {
		return image
	}
	if digest == "" {
		digest = digestOfRef(image)
	}
	if digest == "" {
		return image
	}
	repo := image
	if i := strings.Index(repo, "@"); i >= 0 {
		repo = repo[:i]
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return repo + "@" + digest
}

func digestOfRef(ref string) string {
	img, err := ParseImage(ref)
	if err != nil {
		return ""
	}
	return img.Digest
}
