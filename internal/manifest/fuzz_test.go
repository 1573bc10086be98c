package manifest

import (
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// The fuzz targets feed random file contents, image references and field
// paths to each editor. An editor must not panic, must not write anything
// but its target file (and nothing at all when it fails), and when it
// succeeds the file must parse and read back to the requested image.

// fuzzTree writes the target file next to files that must stay untouched.
func fuzzTree(t *testing.T, target, content string) (root string, before map[string]string) {
	root = writeTree(t, map[string]string{
		target:             content,
		"other.yaml":       content,
		"sub/values.yaml":  "image: {repository: a, tag: b}\n",
		"sub/kustomize.md": "not yaml",
	})
	return root, hashTree(t, root)
}

// checkWrites fails unless only target changed, and only when ok.
func checkWrites(t *testing.T, root, target string, before map[string]string, res Result, err error) {
	t.Helper()
	changed := diffTrees(before, hashTree(t, root))
	switch {
	case err != nil && len(changed) > 0:
		t.Fatalf("failed with %v but changed %v", err, changed)
	case err == nil && res.Changed && (len(changed) > 1 || len(changed) == 1 && changed[0] != target):
		t.Fatalf("changed %v, want only %s", changed, target)
	case err == nil && !res.Changed && len(changed) > 0:
		t.Fatalf("reported no change but changed %v", changed)
	}
}

// checkString fails unless n is a string with the value want, and would stay
// a string for a YAML 1.1 reader such as Helm or kustomize.
func checkString(t *testing.T, what string, n *yaml.Node, want string) {
	t.Helper()
	if n == nil {
		t.Fatalf("%s is missing, want %q", what, want)
	}
	if n.Kind != yaml.ScalarNode || n.Value != want || n.ShortTag() != yaml.NodeTagString {
		t.Fatalf("%s = %q (%s), want the string %q", what, n.Value, n.ShortTag(), want)
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 && yaml.IsValueNonString(n.Value) {
		t.Fatalf("%s = %s is plain, so YAML 1.1 reads it as a non-string", what, n.Value)
	}
}

func readDocs(t *testing.T, path string) []*yaml.Node {
	t.Helper()
	out, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := decodeAll(out)
	if err != nil {
		t.Fatalf("edited file does not parse: %v\n%s", err, out)
	}
	return docs
}

func seedInputs(f *testing.F, names ...string) []string {
	var inputs []string
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join("testdata", "golden", n+".input.yaml"))
		if err != nil {
			f.Fatal(err)
		}
		inputs = append(inputs, string(data))
	}
	return inputs
}

func FuzzKustomize(f *testing.F) {
	for _, in := range seedInputs(f, "kustomize-tag", "kustomize-flow", "kustomize-add-images", "kustomize-crlf") {
		f.Add(in, "ghcr.io/acme/web:1.4.0@"+digestA, "", true, false)
		f.Add(in, "ghcr.io/acme/web:1.20", "web", false, false)
	}
	f.Add("images:\n- name: web\n  newTag: x # c\n  newName: y\n", "web:1", "", false, true)
	f.Fuzz(func(t *testing.T, content, ref, imageName string, pin, noAdd bool) {
		img, err := ParseImage(ref)
		if err != nil {
			return
		}
		root, before := fuzzTree(t, "kustomization.yaml", content)
		opts := Options{PinDigest: pin, NoAddEntry: noAdd}
		res, err := Apply(root, Edit{Kustomize: &KustomizeEdit{ImageName: imageName}}, img, opts)
		checkWrites(t, root, "kustomization.yaml", before, res, err)
		if err != nil {
			return
		}
		docs := readDocs(t, filepath.Join(root, "kustomization.yaml"))
		// kyaml's own path lookup is the oracle, independent of this
		// package's.
		var entry *yaml.RNode
		name := imageName
		if name == "" {
			name = img.Repository
		}
		for _, doc := range docs {
			if isEmptyDocument(doc) {
				continue
			}
			images, err := yaml.NewRNode(doc.Content[0]).Pipe(yaml.Lookup("images"))
			if err != nil || images == nil {
				t.Fatalf("images: not found after a successful edit: %v", err)
			}
			for _, el := range images.Content() {
				if n := yaml.NewRNode(el).Field("name"); n != nil && n.Value.YNode().Value == name {
					if entry != nil {
						t.Fatalf("two entries named %q after the edit", name)
					}
					entry = yaml.NewRNode(el)
				}
			}
		}
		if entry == nil {
			t.Fatalf("no entry named %q after the edit", name)
		}
		field := func(key string) *yaml.Node {
			if fn := entry.Field(key); fn != nil {
				return fn.Value.YNode()
			}
			return nil
		}
		if img.byDigest(pin) {
			checkString(t, "digest", field("digest"), img.Digest)
			if field("newTag") != nil {
				t.Fatalf("newTag is still set next to the digest")
			}
		} else {
			checkString(t, "newTag", field("newTag"), img.Tag)
			if field("digest") != nil {
				t.Fatalf("digest is still set next to newTag")
			}
		}
		if img.Repository != name || field("newName") != nil {
			checkString(t, "newName", field("newName"), img.Repository)
		}
	})
}

func FuzzYAMLField(f *testing.F) {
	for _, in := range seedInputs(f, "yaml-multidoc", "yaml-flow", "yaml-alias", "yaml-crlf") {
		f.Add(in, "spec.template.spec.containers[name=web].image", "ghcr.io/acme/web:1.4.0", false)
		f.Add(in, "canary.image", "ghcr.io/acme/web@"+digestA, true)
	}
	f.Add("a: {b: [x, {c: 'd'}]}\n", "a.b[1].c", "x:y", false)
	f.Fuzz(func(t *testing.T, content, field, ref string, pin bool) {
		img, err := ParseImage(ref)
		if err != nil {
			return
		}
		root, before := fuzzTree(t, "deploy/web.yaml", content)
		edit := Edit{Path: "deploy", YAML: &YAMLEdit{File: "web.yaml", Field: field}}
		res, err := Apply(root, edit, img, Options{PinDigest: pin})
		checkWrites(t, root, filepath.FromSlash("deploy/web.yaml"), before, res, err)
		if err != nil {
			return
		}
		steps, err := parsePath(field)
		if err != nil {
			t.Fatalf("edit succeeded with a field path that does not parse: %v", err)
		}
		found := 0
		for _, doc := range readDocs(t, filepath.Join(root, "deploy", "web.yaml")) {
			if tgt, err := lookup(doc, steps); err == nil {
				found++
				checkString(t, field, tgt.node, img.reference(pin))
			}
		}
		if found != 1 {
			t.Fatalf("%s is in %d documents after the edit, want 1", field, found)
		}
	})
}

func FuzzHelm(f *testing.F) {
	for _, in := range seedInputs(f, "helm-values", "helm-flow", "helm-null-tag-crlf", "helm-image-field") {
		f.Add(in, "ghcr.io/acme/web:1.20", false, false)
		f.Add(in, "ghcr.io/acme/web:1.4.0@"+digestA, true, true)
	}
	f.Fuzz(func(t *testing.T, content, ref string, pin, imageField bool) {
		img, err := ParseImage(ref)
		if err != nil {
			return
		}
		root, before := fuzzTree(t, "values.yaml", content)
		edit := Edit{Helm: &HelmEdit{}}
		if imageField {
			edit.Helm.ImageField = "web.image"
		}
		res, err := Apply(root, edit, img, Options{PinDigest: pin})
		checkWrites(t, root, "values.yaml", before, res, err)
		if err != nil {
			return
		}
		for _, doc := range readDocs(t, filepath.Join(root, "values.yaml")) {
			if imageField {
				if tgt, err := lookup(doc, []step{{key: "web"}, {key: "image"}}); err == nil {
					checkString(t, "web.image", tgt.node, img.reference(pin))
					return
				}
				continue
			}
			repo, err1 := lookup(doc, []step{{key: "image"}, {key: "repository"}})
			tag, err2 := lookup(doc, []step{{key: "image"}, {key: "tag"}})
			if err1 == nil && err2 == nil {
				checkString(t, "image.repository", repo.node, img.Repository)
				want := img.Tag
				if img.byDigest(pin) {
					want += "@" + img.Digest
				}
				checkString(t, "image.tag", tag.node, want)
				return
			}
		}
		t.Fatalf("the edited fields are gone after a successful edit")
	})
}
