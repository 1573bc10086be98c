package manifest

import (
	"strings"

	"github.com/baton-dev/baton/internal/image"
)

// fieldImage is the field named in errors about the image itself.
const fieldImage = "image"

// Image is an image reference split into the parts that manifests store
// separately. Repository is kept as written ("nginx", not
// "index.docker.io/library/nginx") because that is how people write it in
// config repositories, and what kustomize matches on.
type Image struct {
	Repository string
	Tag        string
	Digest     string
}

// ParseImage parses a reference such as ghcr.io/acme/web:1.2.3,
// ghcr.io/acme/web@sha256:... or both. It needs a tag or a digest: a bare
// repository would silently mean "latest".
func ParseImage(ref string) (Image, error) {
	img := split(ref)
	if err := img.validate(); err != nil {
		return Image{}, err
	}
	return img, nil
}

// split cuts a reference into its parts as written, without judging them.
func split(ref string) Image {
	var img Image
	rest := ref
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		img.Digest, rest = rest[i+1:], rest[:i]
	}
	if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
		img.Tag, rest = rest[i+1:], rest[:i]
	}
	img.Repository = rest
	return img
}

// validate checks the parts with internal/image, as the engine parses the
// reference, and that they are the parts the whole reference splits into.
func (img Image) validate() error {
	if img.Repository == "" {
		return invalid(fieldImage, "image reference %q has no repository", img.String())
	}
	if img.Tag == "" && img.Digest == "" {
		return invalid(fieldImage, "image reference %q has neither a tag nor a digest", img.String())
	}
	if _, err := image.Parse(img.String()); err != nil {
		return invalid(fieldImage, "%v", err)
	}
	if split(img.String()) != img {
		return invalid(fieldImage, "image reference %q does not split into repository %q, tag %q and digest %q", img.String(), img.Repository, img.Tag, img.Digest)
	}
	return nil
}

// String returns the reference with every part that is set.
func (img Image) String() string {
	s := img.Repository
	if img.Tag != "" {
		s += ":" + img.Tag
	}
	if img.Digest != "" {
		s += "@" + img.Digest
	}
	return s
}

// byDigest says whether the image is written by digest: when pinning and the
// digest is known, or when there is no tag to write.
func (img Image) byDigest(pin bool) bool {
	return img.Digest != "" && (pin || img.Tag == "")
}

// reference is the value of a field that holds the whole reference. As in
// kustomize, a digest replaces the tag rather than joining it.
func (img Image) reference(pin bool) string {
	if img.byDigest(pin) {
		return image.Pin(img.String(), img.Digest)
	}
	return img.Repository + ":" + img.Tag
}
