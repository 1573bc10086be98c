package manifest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
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
	// Name is the Environment field of this edit, which errors name, such
	// as delivery.git.edits[1]. Empty means delivery.git.edit.
	Name string

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
	applied, err := ApplyAll(root, []Edit{edit}, img, opts)
	if len(applied.Edits) == 0 {
		return Result{}, err
	}
	return applied.Edits[0], err
}

// Applied is what ApplyAll did.
type Applied struct {
	// Edits has one Result per edit, in order; on error, only those of the
	// edits before the failing one, none of them Changed.
	Edits []Result
	// Files are the files written, relative to the checkout, with forward
	// slashes, in the order they were first edited. Empty when every field
	// already held the image.
	Files []string
}

// ApplyAll sets img in the checkout at root as every edit says, all or
// nothing: each edit sees what the ones before it did, and no file is
// written unless every edit succeeded. Every edit must have the same Path.
// Two edits that set the same field of the same file (also through a
// symlink) are refused, naming the second. Errors name the edit's field,
// Edit.Name, such as delivery.git.edits[1].yaml.field.
func ApplyAll(root string, edits []Edit, img Image, opts Options) (Applied, error) {
	if err := img.validate(); err != nil {
		return Applied{}, err
	}
	if len(edits) == 0 {
		return Applied{}, invalid(fieldEdit, "no edit is set")
	}
	for i, edit := range edits {
		if edit.Path != edits[0].Path {
			return Applied{}, named(edit, invalid(fieldPath, "%q differs from the first edit's %q; all edits share delivery.git.path", edit.Path, edits[0].Path))
		}
		set := 0
		for _, isSet := range []bool{edit.Kustomize != nil, edit.YAML != nil, edit.Helm != nil} {
			if isSet {
				set++
			}
		}
		if set != 1 {
			return Applied{}, named(edits[i], invalid(fieldEdit, "exactly one of kustomize, yaml or helm must be set, not %d", set))
		}
	}
	if opts.MaxFileSize <= 0 {
		opts.MaxFileSize = DefaultMaxFileSize
	}
	c, err := openCheckout(root, opts.MaxFileSize)
	if err != nil {
		return Applied{}, err
	}
	dir := edits[0].Path
	if dir == "" {
		dir = "."
	}
	if err := c.jail(dir); err != nil {
		return Applied{}, err
	}
	defer c.close()
	var out Applied
	set := map[string]int{} // file and field -> the edit that sets it
	for i, edit := range edits {
		var res Result
		switch {
		case edit.Kustomize != nil:
			res, err = c.kustomize(dir, *edit.Kustomize, img, opts)
		case edit.YAML != nil:
			res, err = c.yamlField(dir, *edit.YAML, img, opts)
		default:
			res, err = c.helm(dir, *edit.Helm, img, opts)
		}
		if err != nil {
			return Applied{Edits: unchanged(out.Edits)}, named(edit, err)
		}
		for _, k := range fieldKeys(edit, img) {
			key := res.File + "\x00" + k.path
			if j, ok := set[key]; ok {
				return Applied{Edits: unchanged(out.Edits)}, named(edit, invalid(k.field, "%s: %s is set by %s already; each field may be edited once",
					res.File, k.path, editName(edits[j])))
			}
			set[key] = i
		}
		out.Edits = append(out.Edits, res)
	}
	files, err := c.flush()
	if err != nil {
		return Applied{Edits: unchanged(out.Edits)}, err
	}
	out.Files = files
	written := map[string]bool{}
	for _, f := range files {
		written[f] = true
	}
	for i := range out.Edits {
		out.Edits[i].Changed = out.Edits[i].Changed && written[out.Edits[i].File]
	}
	return out, nil
}

func unchanged(rs []Result) []Result {
	for i := range rs {
		rs[i].Changed = false
	}
	return rs
}

// fieldKey is a field an edit sets, and the Environment field naming it.
type fieldKey struct{ field, path string }

// fieldKeys are the fields of its file that an edit sets.
func fieldKeys(e Edit, img Image) []fieldKey {
	switch {
	case e.Kustomize != nil:
		name := e.Kustomize.ImageName
		if name == "" {
			name = img.Repository
		}
		return []fieldKey{{fieldKustomizeName, "images[name=" + name + "]"}}
	case e.YAML != nil:
		return []fieldKey{{fieldYAMLField, strings.TrimSpace(e.YAML.Field)}}
	}
	h := e.Helm
	if h.ImageField != "" {
		return []fieldKey{{fieldHelmImage, strings.TrimSpace(h.ImageField)}}
	}
	repo, tag := cmpOr(h.RepositoryField, defaultHelmRepoField), cmpOr(h.TagField, defaultHelmTagField)
	return []fieldKey{{fieldHelmRepository, strings.TrimSpace(repo)}, {fieldHelmTag, strings.TrimSpace(tag)}}
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func editName(e Edit) string {
	if e.Name == "" {
		return fieldEdit
	}
	return e.Name
}

// named makes an error of edit e name e: a field of delivery.git.edit
// becomes the same field of e.Name, and any other field (delivery.git.path,
// image) says which edit it was found by.
func named(e Edit, err error) error {
	var me *Error
	if e.Name == "" || e.Name == fieldEdit || !errors.As(err, &me) {
		return err
	}
	out := *me
	if rest, ok := strings.CutPrefix(me.Field, fieldEdit); ok && (rest == "" || rest[0] == '.') {
		out.Field = e.Name + rest
	} else {
		out.Reason = "in " + e.Name + ": " + me.Reason
	}
	return &out
}

// checkout is the directory tree an edit may read and write.
type checkout struct {
	root  string // with symlinks resolved
	limit int64
	// base is delivery.git.path, opened by jail: baseDir its real path,
	// baseRel its name in the repository.
	base    *os.Root
	baseDir string
	baseRel string
	// pending holds, by name in delivery.git.path, the files edited and
	// not yet written, in the order first edited: a later edit of the same
	// file reads them from here, and flush writes them all at the end.
	pending map[string]*pendingFile
	order   []string
}

// pendingFile is a file as read from disk and its edited content.
type pendingFile struct {
	file *file
	data []byte
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

// jail resolves delivery.git.path, which must be a real directory of the
// repository: no component of it may be a symlink, or an edit for staging
// could be moved into production's directory by one link. Every later read
// and write goes through an os.Root opened there, so that nothing an edit
// does can leave it.
func (c *checkout) jail(rel string) error {
	if err := checkRelative(fieldPath, rel); err != nil {
		return err
	}
	cur := c.root
	for _, part := range splitPath(rel) {
		next := filepath.Join(cur, part)
		fi, err := os.Lstat(next)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return invalid(fieldPath, "%s does not exist in the repository", rel)
		}
		if err != nil {
			return fmt.Errorf("resolve %s: %w", rel, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			link, _ := os.Readlink(next)
			return escapes(fieldPath, "%s: %s is a symlink to %s; delivery.git.path must be a directory of the repository itself, so that an edit cannot be moved into another Environment's files",
				rel, c.rel(next), c.describeTarget(next, link))
		}
		cur = next
	}
	fi, err := os.Stat(cur)
	if err != nil {
		return fmt.Errorf("stat %s: %w", rel, err)
	}
	if !fi.IsDir() {
		return invalid(fieldPath, "%s is a file, want a directory", rel)
	}
	base, err := os.OpenRoot(cur)
	if err != nil {
		return fmt.Errorf("open %s: %w", rel, err)
	}
	c.base, c.baseDir, c.baseRel = base, cur, path.Clean(filepath.ToSlash(rel))
	return nil
}

// close releases the os.Root of delivery.git.path.
func (c *checkout) close() {
	if c.base != nil {
		_ = c.base.Close()
	}
}

func splitPath(rel string) []string {
	var parts []string
	for _, part := range strings.Split(filepath.ToSlash(filepath.Clean(rel)), "/") {
		if part != "." && part != "" {
			parts = append(parts, part)
		}
	}
	return parts
}

// describeTarget says where a link points, relative to the repository when
// it stays inside it.
func (c *checkout) describeTarget(link, target string) string {
	real, err := filepath.EvalSymlinks(link)
	switch {
	case err != nil:
		return fmt.Sprintf("%s, which does not resolve", target)
	case within(c.root, real):
		return c.rel(real)
	}
	return fmt.Sprintf("%s, outside the repository", target)
}

// resolve finds rel, a path from the repository root under
// delivery.git.path, and returns its name relative to delivery.git.path
// with every symlink resolved, and relative to the checkout. A link is
// followed only while it stays inside delivery.git.path; one that leaves
// it, for elsewhere in the repository or outside it, is refused and named.
func (c *checkout) resolve(field, rel string) (inBase, name string, err error) {
	if err := checkRelative(field, rel); err != nil {
		return "", "", err
	}
	clean := path.Clean(filepath.ToSlash(rel))
	under := strings.TrimPrefix(clean, c.baseRel+"/")
	if c.baseRel == "." {
		under = clean
	} else if under == clean {
		return "", "", escapes(field, "%s is not under delivery.git.path %s", rel, c.baseRel)
	}
	cur := c.baseDir
	for _, part := range splitPath(under) {
		next := filepath.Join(cur, part)
		fi, err := os.Lstat(next)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return "", "", invalid(field, "%s does not exist in the repository", rel)
		}
		if err != nil {
			return "", "", fmt.Errorf("resolve %s: %w", rel, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			link, _ := os.Readlink(next)
			target, err := filepath.EvalSymlinks(next)
			switch {
			case err != nil:
				return "", "", invalid(field, "%s: symlink %s -> %s does not resolve", rel, c.rel(next), link)
			case !within(c.root, target):
				return "", "", escapes(field, "%s: symlink %s -> %s leaves the repository", rel, c.rel(next), link)
			case !within(c.baseDir, target):
				return "", "", escapes(field, "%s: symlink %s -> %s leaves delivery.git.path %s for %s; an edit never leaves delivery.git.path",
					rel, c.rel(next), link, c.baseRel, c.rel(target))
			}
			next = target
		}
		cur = next
	}
	inBase, err = filepath.Rel(c.baseDir, cur)
	if err != nil || !within(c.baseDir, cur) {
		return "", "", escapes(field, "%s resolves to %s, outside delivery.git.path %s", rel, c.rel(cur), c.baseRel)
	}
	return inBase, c.rel(cur), nil
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

// file is a regular file read into memory.
type file struct {
	base   *os.Root
	inBase string // relative to delivery.git.path, symlinks resolved
	name   string // relative to the checkout
	mode   fs.FileMode
	data   []byte
}

// read resolves and reads rel, which field names, through the os.Root of
// delivery.git.path: a link swapped in after resolve cannot lead out.
func (c *checkout) read(field, rel string) (*file, error) {
	inBase, name, err := c.resolve(field, rel)
	if err != nil {
		return nil, err
	}
	if p, ok := c.pending[inBase]; ok {
		edited := *p.file
		edited.data = p.data
		return &edited, nil
	}
	f, err := c.base.Open(inBase)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
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
	data, err := io.ReadAll(io.LimitReader(f, c.limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) > c.limit {
		return nil, invalid(field, "%s is over the limit of %d bytes", name, c.limit)
	}
	return &file{base: c.base, inBase: inBase, name: name, mode: fi.Mode(), data: data}, nil
}

// write replaces the file atomically, inside delivery.git.path: a reader
// sees the old or the new content, never a mix, and a failure leaves the
// old file in place.
func (f *file) write(data []byte) error {
	tmp, tmpName, err := f.createTemp()
	if err != nil {
		return fmt.Errorf("write %s: %w", f.name, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			_ = f.base.Remove(tmpName)
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
	if err := f.base.Rename(tmpName, f.inBase); err != nil {
		return fmt.Errorf("write %s: %w", f.name, err)
	}
	done = true
	return nil
}

// createTemp creates a new file beside the one to replace, inside the root.
func (f *file) createTemp() (*os.File, string, error) {
	dir, base := filepath.Split(f.inBase)
	for i := 0; ; i++ {
		name := filepath.Join(dir, fmt.Sprintf(".%s.baton-%d-%d", base, os.Getpid(), rand.Int64()))
		tmp, err := f.base.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil || !errors.Is(err, fs.ErrExist) || i >= 10 {
			return tmp, name, err
		}
	}
}

// finish keeps the edited source for flush if it changed, and reports the
// result.
func (c *checkout) finish(f *file, src *source) (Result, error) {
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
	if p, ok := c.pending[f.inBase]; ok {
		p.data = out
	} else {
		if c.pending == nil {
			c.pending = map[string]*pendingFile{}
		}
		c.pending[f.inBase] = &pendingFile{file: f, data: out}
		c.order = append(c.order, f.inBase)
	}
	res.Changed = true
	return res, nil
}

// flush writes every edited file that differs from what was read. When a
// write fails, the files already written are put back as they were, so
// that the checkout keeps all the edits or none.
func (c *checkout) flush() ([]string, error) {
	var written []*file
	for _, inBase := range c.order {
		p := c.pending[inBase]
		if string(p.data) == string(p.file.data) {
			continue
		}
		if err := p.file.write(p.data); err != nil {
			for _, f := range written {
				if rerr := f.write(f.data); rerr != nil {
					return nil, errors.Join(err, fmt.Errorf("put %s back: %w", f.name, rerr))
				}
			}
			return nil, err
		}
		written = append(written, p.file)
	}
	names := make([]string, 0, len(written))
	for _, f := range written {
		names = append(names, f.name)
	}
	return names, nil
}
