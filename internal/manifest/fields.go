package manifest

import (
	"path"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// fieldValue is one field to set: its path in the file, the Environment
// field that holds that path, and the value.
type fieldValue struct {
	field string
	path  string
	steps []step
	value string
}

func (fv *fieldValue) parse() error {
	steps, err := parsePath(fv.path)
	if err != nil {
		return invalid(fv.field, "%v", err)
	}
	fv.steps = steps
	return nil
}

// yamlField sets one field to the whole image reference.
func (c *checkout) yamlField(dir string, e YAMLEdit, img Image, opts Options) (Result, error) {
	fv := fieldValue{field: fieldYAMLField, path: e.Field, value: img.reference(opts.PinDigest)}
	if e.File == "" {
		return Result{}, invalid(fieldYAMLFile, "the file is empty")
	}
	return c.setFields(dir, fieldYAMLFile, e.File, []fieldValue{fv})
}

// helm sets the repository and tag fields of a values file, or its single
// image field. With PinDigest the tag field gets tag@digest, which the usual
// {{ .repository }}:{{ .tag }} template turns into a pinned reference.
func (c *checkout) helm(dir string, e HelmEdit, img Image, opts Options) (Result, error) {
	file := e.File
	if file == "" {
		file = defaultHelmFile
	}
	if e.ImageField != "" {
		if e.RepositoryField != "" || e.TagField != "" {
			return Result{}, invalid(fieldHelmImage, "cannot be combined with repositoryField or tagField")
		}
		fv := fieldValue{field: fieldHelmImage, path: e.ImageField, value: img.reference(opts.PinDigest)}
		return c.setFields(dir, fieldHelmFile, file, []fieldValue{fv})
	}
	if img.Tag == "" {
		return Result{}, invalid(fieldHelmTag, "image %s has no tag to write; use imageField to deliver an image by digest alone", img)
	}
	repo := fieldValue{field: fieldHelmRepository, path: e.RepositoryField, value: img.Repository}
	if repo.path == "" {
		repo.path = defaultHelmRepoField
	}
	tag := fieldValue{field: fieldHelmTag, path: e.TagField, value: img.Tag}
	if tag.path == "" {
		tag.path = defaultHelmTagField
	}
	if img.byDigest(opts.PinDigest) {
		tag.value += "@" + img.Digest
	}
	return c.setFields(dir, fieldHelmFile, file, []fieldValue{repo, tag})
}

// setFields sets every field in the one document of the file where all of
// them exist. Other documents are left alone.
func (c *checkout) setFields(dir, fileField, file string, fields []fieldValue) (Result, error) {
	for i := range fields {
		if err := fields[i].parse(); err != nil {
			return Result{}, err
		}
	}
	if err := checkRelative(fileField, file); err != nil {
		return Result{}, err
	}
	f, err := c.read(fileField, path.Join(dir, file))
	if err != nil {
		return Result{}, err
	}
	src, err := parseSource(f.data, f.name, fileField)
	if err != nil {
		return Result{}, err
	}
	targets, err := findDocument(src, fields)
	if err != nil {
		return Result{File: f.name}, err
	}
	for i, t := range targets {
		for _, other := range targets[:i] {
			if other.node == t.node {
				return Result{File: f.name}, invalid(fields[i].field, "%s: %s is the same field as %s", f.name, fields[i].path, fields[0].path)
			}
		}
		if t.node.Kind == yaml.ScalarNode && t.node.Value == fields[i].value && t.node.ShortTag() == yaml.NodeTagString {
			continue
		}
		if err := src.setScalar(t.node, fields[i].value, t.flow); err != nil {
			return Result{File: f.name}, err
		}
	}
	return c.finish(f, src)
}

// findDocument returns the targets of fields in the only document that has
// them all. When none has, the error comes from the document where the paths
// got furthest, which is the one the user meant.
func findDocument(src *source, fields []fieldValue) ([]target, error) {
	var found []target
	foundIn := 0
	var best *lookupError
	bestField := fields[0].field
	for d, doc := range src.docs {
		targets := make([]target, 0, len(fields))
		for _, fv := range fields {
			t, err := lookup(doc, fv.steps)
			if err != nil {
				le := err.(*lookupError)
				if best == nil || le.depth > best.depth {
					best, bestField = le, fv.field
				}
				break
			}
			targets = append(targets, t)
		}
		if len(targets) < len(fields) {
			continue
		}
		if found != nil {
			return nil, invalid(fields[0].field, "%s: %s is in documents %d and %d; there must be only one", src.file, fields[0].path, foundIn, d+1)
		}
		found, foundIn = targets, d+1
	}
	if found != nil {
		return found, nil
	}
	if best == nil {
		return nil, invalid(src.field, "%s has no YAML documents", src.file)
	}
	return nil, invalid(bestField, "%s: %s", src.file, best.reason)
}
