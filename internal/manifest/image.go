package manifest

import (
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
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
	var img Image
	rest := ref
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		img.Digest, rest = rest[i+1:], rest[:i]
	}
	if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
		img.Tag, rest = rest[i+1:], rest[:i]
	}
	img.Repository = rest
	if err := img.validate(); err != nil {
		return Image{}, err
	}
	return img, nil
}

func (img Image) validate() error {
	if img.Repository == "" {
		return invalid(fieldImage, "image reference %q has no repository", img.String())
	}
	if _, err := name.NewRepository(img.Repository); err != nil {
		return invalid(fieldImage, "image reference %q: %v", img.String(), err)
	}
	if img.Tag == "" && img.Digest == "" {
		return invalid(fieldImage, "image reference %q has neither a tag nor a digest", img.String())
	}
	if img.Tag != "" {
		if _, err := name.NewTag(img.Repository + ":" + img.Tag); err != nil {
			return invalid(fieldImage, "image reference %q: %v", img.String(), err)
		}
	}
	if img.Digest != "" {
		if _, err := name.NewDigest(img.Repository + "@" + img.Digest); err != nil {
			return invalid(fieldImage, "image reference %q: %v", img.String(), err)
		}
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
		return img.Repository + "@" + img.Digest
	}
	return img.Repository + ":" + img.Tag
}
