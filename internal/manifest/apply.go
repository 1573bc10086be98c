package manifest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// DefaultMaxFileSize is the largest file an edit reads when
// Options.MaxFileSize is zero. Config files are small; a huge one is a
// mistake or an attack on the controller's memory.
const DefaultMaxFileSize = 1 << 20

// Names of the Environment fields that errors point at.
const (
	fieldPath            = "delivery.git.path"
	fieldEdit            = "delivery.git.edit"
	fieldKustomizeName   = "delivery.git.edit.kustomize.imageName"
	fieldYAMLFile        = "delivery.git.edit.yaml.file"
	fieldYAMLField       = "delivery.git.edit.yaml.field"
	fieldHelmFile        = "delivery.git.edit.helm.file"
	fieldHelmRepository  = "delivery.git.edit.helm.repositoryField"
	fieldHelmTag         = "delivery.git.edit.helm.tagField"
	fieldHelmImage       = "delivery.git.edit.helm.imageField"
	defaultHelmFile      = "values.yaml"
	defaultHelmRepoField = "image.repository"
	defaultHelmTagField  = "image.tag"
)

// Edit says where the image lives in the repository. It mirrors
// delivery.git of the Environment API: Path, then exactly one of Kustomize,
// YAML or Helm.
type Edit struct {
	// Path is the directory, relative to the checkout, that the edit is
	// relative to. Empty means the root.
	Path string

	Kustomize *KustomizeEdit
	YAML      *YAMLEdit
	Helm      *HelmEdit
}

// KustomizeEdit sets an images: entry of <Path>/kustomization.yaml.
type KustomizeEdit struct {
	// ImageName is the name of the entry. Empty means the image's repository.
	ImageName string
}

// YAMLEdit sets one field in one file.
type YAMLEdit struct {
	// File is relative to Path.
	File string
	// Field is a path such as image, a.b.c or
	// spec.template.spec.containers[name=web].image.
	Field string
}

// HelmEdit sets the image in a Helm values file: a repository and a tag
// field, or one field holding the whole reference.
type HelmEdit struct {
	// File is relative to Path. Empty means values.yaml.
	File string
	// RepositoryField and TagField default to image.repository and
	// image.tag when ImageField is empty.
	RepositoryField string
	TagField        string
	ImageField      string
}

// Options tune an edit. The zero value is ready to use.
type Options struct {
	// PinDigest writes the digest instead of the tag when the image has one.
	PinDigest bool
	// NoAddEntry makes a kustomize edit fail, instead of adding an entry,
	// when no images: entry has the image's name.
	NoAddEntry bool
	// MaxFileSize is the largest file read, in bytes. Zero means
	// DefaultMaxFileSize.
	MaxFileSize int64
}

// Result is what an edit did.
type Result struct {
	// File is the file holding the image, relative to the checkout, with
	// forward slashes. It is set even when nothing changed.
	File string
	// Changed is false when the file already had the image; then it was not
	// written at all.
	Changed bool
}

// Apply sets img in the checkout at root as edit says, writing at most one
// file, atomically. Errors the user must fix match ErrInvalid; the rest are
// I/O errors.
func Apply(root string, edit Edit, img Image, opts Options) (Result, error) {
	if err := img.validate(); err != nil {
		return Result{}, err
	}
	set := 0
	for _, isSet := range []bool{edit.Kustomize != nil, edit.YAML != nil, edit.Helm != nil} {
		if isSet {
			set++
		}
	}
	if set != 1 {
		return Result{}, invalid(fieldEdit, "exactly one of kustomize, yaml or helm must be set, not %d", set)
	}
	if opts.MaxFileSize <= 0 {
		opts.MaxFileSize = DefaultMaxFileSize
	}
	c, err := openCheckout(root, opts.MaxFileSize)
	if err != nil {
		return Result{}, err
	}
	dir := edit.Path
	if dir == "" {
		dir = "."
	}
	if err := checkRelative(fieldPath, dir); err != nil {
		return Result{}, err
	}
	switch {
	case edit.Kustomize != nil:
		return c.kustomize(dir, *edit.Kustomize, img, opts)
	case edit.YAML != nil:
		return c.yamlField(dir, *edit.YAML, img, opts)
	default:
		return c.helm(dir, *edit.Helm, img, opts)
	}
}

// checkout is the directory tree an edit may read and write.
type checkout struct {
	root  string // with symlinks resolved
	limit int64
}

func openCheckout(root string, limit int64) (*checkout, error) {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("open checkout: %w", err)
	}
	real, err = filepath.Abs(real)
	if err != nil {
		return nil, fmt.Errorf("open checkout: %w", err)
	}
	return &checkout{root: real, limit: limit}, nil
}

// checkRelative rejects what the API's CEL rules reject, for callers that
// did not go through the API server.
func checkRelative(field, rel string) error {
	switch {
	case strings.ContainsRune(rel, 0):
		return invalid(field, "%q contains a NUL byte", rel)
	case path.IsAbs(rel) || filepath.IsAbs(rel) || strings.HasPrefix(rel, `\`):
		return invalid(field, "%q is absolute; it must be relative to the repository root", rel)
	}
	for _, part := range strings.FieldsFunc(rel, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == ".." {
			return invalid(field, "%q contains \"..\"; it must stay inside the repository", rel)
		}
	}
	return nil
}

// resolve joins rel to the checkout with securejoin and returns the real
// path and its name relative to the checkout. securejoin alone would quietly
// reinterpret a symlink to /etc as <root>/etc; a link that leaves the
// checkout is a mistake or an attack, so it is reported instead.
func (c *checkout) resolve(field, rel string) (real, name string, err error) {
	if err := checkRelative(field, rel); err != nil {
		return "", "", err
	}
	cur := c.root
	for _, part := range strings.Split(filepath.ToSlash(filepath.Clean(rel)), "/") {
		if part == "." || part == "" {
			continue
		}
		next := filepath.Join(cur, part)
		fi, err := os.Lstat(next)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return "", "", invalid(field, "%s does not exist in the repository", rel)
		}
		if err != nil {
			return "", "", fmt.Errorf("resolve %s: %w", rel, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, err := filepath.EvalSymlinks(next)
			if err != nil {
				link, _ := os.Readlink(next)
				return "", "", invalid(field, "%s: symlink %s -> %s does not resolve", rel, c.rel(next), link)
			}
			if !within(c.root, target) {
				link, _ := os.Readlink(next)
				return "", "", invalid(field, "%s: symlink %s -> %s leaves the repository", rel, c.rel(next), link)
			}
			next = target
		}
		cur = next
	}
	real, err = securejoin.SecureJoin(c.root, rel)
	if err != nil {
		return "", "", fmt.Errorf("resolve %s: %w", rel, err)
	}
	if real != cur {
		return "", "", invalid(field, "%s resolves to %s, outside the repository", rel, real)
	}
	return real, c.rel(real), nil
}

func (c *checkout) rel(p string) string {
	r, err := filepath.Rel(c.root, p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(r)
}

func within(root, p string) bool {
	r, err := filepath.Rel(root, p)
	return err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) && !filepath.IsAbs(r)
}

// dir resolves the delivery path, which must be a directory.
func (c *checkout) dir(rel string) (string, error) {
	real, _, err := c.resolve(fieldPath, rel)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("stat %s: %w", rel, err)
	}
	if !fi.IsDir() {
		return "", invalid(fieldPath, "%s is a file, want a directory", rel)
	}
	return real, nil
}

// file is a regular file read into memory.
type file struct {
	real string
	name string // relative to the checkout
	mode fs.FileMode
	data []byte
}

// read resolves and reads rel, which field names.
func (c *checkout) read(field, rel string) (*file, error) {
	real, name, err := c.resolve(field, rel)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(real)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", name, err)
	}
	switch {
	case fi.IsDir():
		return nil, invalid(field, "%s is a directory, want a file", name)
	case !fi.Mode().IsRegular():
		return nil, invalid(field, "%s is not a regular file", name)
	case fi.Size() > c.limit:
		return nil, invalid(field, "%s is %d bytes, over the limit of %d", name, fi.Size(), c.limit)
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, c.limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) > c.limit {
		return nil, invalid(field, "%s is over the limit of %d bytes", name, c.limit)
	}
	return &file{real: real, name: name, mode: fi.Mode(), data: data}, nil
}

// write replaces the file atomically: a reader sees the old or the new
// content, never a mix, and a failure leaves the old file in place.
func (f *file) write(data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(f.real), "."+filepath.Base(f.real)+".baton-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", f.name, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", f.name, err)
	}
	if err := tmp.Chmod(f.mode.Perm()); err != nil {
		return fmt.Errorf("write %s: %w", f.name, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", f.name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", f.name, err)
	}
	if err := os.Rename(tmp.Name(), f.real); err != nil {
		os.Remove(tmp.Name())
		done = true
		return fmt.Errorf("write %s: %w", f.name, err)
	}
	done = true
	return nil
}

// finish writes the edited source if it changed, and reports the result.
func finish(f *file, src *source) (Result, error) {
	res := Result{File: f.name}
	if len(src.edits) == 0 {
		return res, nil
	}
	out, err := src.result()
	if err != nil {
		return res, err
	}
	if string(out) == string(f.data) {
		return res, nil
	}
	if err := f.write(out); err != nil {
		return res, err
	}
	res.Changed = true
	return res, nil
}
