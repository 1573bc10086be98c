package image

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Ref is a parsed image reference.
type Ref struct {
	// Ref is the reference as the user wrote it.
	Ref string
	// Name is the normalized reference: registry, repository and tag, with
	// Docker Hub's defaults filled in; for a reference with a digest it is
	// repository@digest, because the tag beside a digest is only decoration.
	Name string
	// Digest is the sha256 digest when the reference carries one.
	Digest string
}

// Parse parses an image reference the way container runtimes do. It rejects
// an empty reference and one with surrounding space, which a runtime would
// not pull.
func Parse(ref string) (Ref, error) {
	if strings.TrimSpace(ref) != ref || ref == "" {
		return Ref{}, fmt.Errorf("image reference %q is empty or has surrounding space", ref)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return Ref{}, fmt.Errorf("image reference %q: %w", ref, err)
	}
	parsed := Ref{Ref: ref, Name: r.Name()}
	if d, ok := r.(name.Digest); ok {
		parsed.Digest = d.DigestStr()
		parsed.Name = d.Context().Name() + "@" + parsed.Digest
	}
	return parsed, nil
}

// Same reports whether two references name the same image: by digest when
// both sides know it, and by the normalized reference otherwise. A digest
// may come from the reference itself or be given beside it (for example
// from a status field); an unparsable reference matches nothing.
func Same(a, aDigest, b, bDigest string) bool {
	ra, errA := Parse(a)
	rb, errB := Parse(b)
	if errA != nil || errB != nil {
		return false
	}
	if aDigest == "" {
		aDigest = ra.Digest
	}
	if bDigest == "" {
		bDigest = rb.Digest
	}
	if aDigest != "" && bDigest != "" {
		return aDigest == bDigest
	}
	return ra.Name == rb.Name
}

// Pin returns the reference that names ref's content: repository@digest,
// with the repository kept as the user spelled it. The digest is the one
// given, or else the one ref carries; with neither, ref is returned as it is.
func Pin(ref, digest string) string {
	if digest == "" {
		digest = DigestOf(ref)
	}
	if digest == "" {
		return ref
	}
	return repository(ref) + "@" + digest
}

// DigestOf returns the digest a reference carries, such as the sha256 of
// registry/web:1@sha256:..., and "" when it carries none or cannot be parsed.
func DigestOf(ref string) string {
	r, err := Parse(ref)
	if err != nil {
		return ""
	}
	return r.Digest
}

// repository is ref without its digest and tag, as written. A colon is a tag
// separator only after the last slash; before it, it introduces a port.
func repository(ref string) string {
	repo := ref
	if i := strings.Index(repo, "@"); i >= 0 {
		repo = repo[:i]
	}
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return repo
}
