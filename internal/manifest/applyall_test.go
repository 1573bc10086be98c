package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func worker(tag string) string {
	return strings.ReplaceAll(strings.ReplaceAll(deployment, "name: web", "name: worker"), "web:1.3.0", "web:"+tag)
}

func containerEdit(name, file, container string) Edit {
	return Edit{Name: name, Path: "app", YAML: &YAMLEdit{File: file, Field: "spec.template.spec.containers[name=" + container + "].image"}}
}

// TestApplyAll edits several files in one go: each changes one line, the
// files come back in the order edited, and a second run writes nothing.
func TestApplyAll(t *testing.T) {
	root := writeTree(t, map[string]string{
		"app/web.yaml":           deployment,
		"app/worker.yaml":        worker("1.3.0"),
		"app/kustomization.yaml": "images:\n- name: ghcr.io/acme/web\n  newTag: 1.3.0\n",
	})
	img := Image{Repository: "ghcr.io/acme/web", Tag: "1.4.0"}
	edits := []Edit{
		containerEdit("delivery.git.edits[0]", "worker.yaml", "worker"),
		{Name: "delivery.git.edits[1]", Path: "app", Kustomize: &KustomizeEdit{}},
		containerEdit("delivery.git.edits[2]", "web.yaml", "web"),
	}
	before := map[string]string{}
	for _, f := range []string{"app/web.yaml", "app/worker.yaml", "app/kustomization.yaml"} {
		data, _ := os.ReadFile(filepath.Join(root, f))
		before[f] = string(data)
	}
	got, err := ApplyAll(root, edits, img, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"app/worker.yaml", "app/kustomization.yaml", "app/web.yaml"}; !slices.Equal(got.Files, want) {
		t.Errorf("Files = %v, want %v", got.Files, want)
	}
	for i, r := range got.Edits {
		if !r.Changed || r.File != got.Files[i] {
			t.Errorf("edit %d: %+v", i, r)
		}
	}
	for f, old := range before {
		data, _ := os.ReadFile(filepath.Join(root, f))
		if removed, added := lineDiff(old, string(data)); removed != 1 || added != 1 || !strings.Contains(string(data), "1.4.0") {
			t.Errorf("%s: -%d +%d lines:\n%s", f, removed, added, data)
		}
	}
	again, err := ApplyAll(root, edits, img, Options{})
	if err != nil || len(again.Files) != 0 || slices.ContainsFunc(again.Edits, func(r Result) bool { return r.Changed }) {
		t.Fatalf("second ApplyAll = %+v, %v; want nothing written", again, err)
	}
}

// TestApplyAllSameFile: two edits of different fields of one file see each
// other's work, and the file is written once with both lines changed.
func TestApplyAllSameFile(t *testing.T) {
	root := writeTree(t, map[string]string{"app/values.yaml": "web:\n  image: ghcr.io/acme/web:1.3.0\nworker:\n  image: ghcr.io/acme/web:1.3.0 # same app\n"})
	img := Image{Repository: "ghcr.io/acme/web", Tag: "1.4.0"}
	got, err := ApplyAll(root, []Edit{
		{Name: "delivery.git.edits[0]", Path: "app", Helm: &HelmEdit{ImageField: "web.image"}},
		{Name: "delivery.git.edits[1]", Path: "app", Helm: &HelmEdit{ImageField: "worker.image"}},
	}, img, Options{})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(root, "app/values.yaml"))
	if want := "web:\n  image: ghcr.io/acme/web:1.4.0\nworker:\n  image: ghcr.io/acme/web:1.4.0 # same app\n"; string(data) != want {
		t.Errorf("values.yaml:\n%s\nwant:\n%s", data, want)
	}
	if !slices.Equal(got.Files, []string{"app/values.yaml"}) {
		t.Errorf("Files = %v", got.Files)
	}
}

// TestApplyAllBadInput: when any edit is wrong, the error names that edit
// by its field and says why, and no file is written, not even those of
// the edits before it that were fine.
func TestApplyAllBadInput(t *testing.T) {
	web := containerEdit("delivery.git.edits[0]", "web.yaml", "web")
	tests := []struct {
		name    string
		edits   []Edit
		field   string
		reason  string
		escapes bool
		// noKustomization leaves app/ without a kustomization.yaml.
		noKustomization bool
	}{
		{name: "the same file and field twice",
			edits: []Edit{web, containerEdit("delivery.git.edits[1]", "worker.yaml", "worker"), containerEdit("delivery.git.edits[2]", "web.yaml", "web")},
			field: "delivery.git.edits[2].yaml.field", reason: "app/web.yaml: spec.template.spec.containers[name=web].image is set by delivery.git.edits[0] already"},
		{name: "the same field through a link inside the path",
			edits: []Edit{web, containerEdit("delivery.git.edits[1]", "web-link.yaml", "web")},
			field: "delivery.git.edits[1].yaml.field", reason: "is set by delivery.git.edits[0] already"},
		{name: "the same kustomize image twice",
			edits: []Edit{{Name: "delivery.git.edits[0]", Path: "app", Kustomize: &KustomizeEdit{}}, {Name: "delivery.git.edits[1]", Path: "app", Kustomize: &KustomizeEdit{ImageName: "ghcr.io/acme/web"}}},
			field: "delivery.git.edits[1].kustomize.imageName", reason: "images[name=ghcr.io/acme/web] is set by delivery.git.edits[0] already"},
		{name: "a helm field another edit sets",
			edits: []Edit{{Name: "delivery.git.edits[0]", Path: "app", Helm: &HelmEdit{}}, {Name: "delivery.git.edits[1]", Path: "app", Helm: &HelmEdit{ImageField: "image.tag"}}},
			field: "delivery.git.edits[1].helm.imageField", reason: "app/values.yaml: image.tag is set by delivery.git.edits[0] already"},
		{name: "a file that escapes the path", edits: []Edit{web, containerEdit("delivery.git.edits[1]", "escape.yaml", "worker")},
			field: "delivery.git.edits[1].yaml.file", reason: "symlink app/escape.yaml -> ../other/worker.yaml leaves delivery.git.path app", escapes: true},
		{name: "a field the file lacks", edits: []Edit{web, containerEdit("delivery.git.edits[1]", "worker.yaml", "api")},
			field: "delivery.git.edits[1].yaml.field", reason: "no element matches [name=api]"},
		{name: "a file that does not exist", edits: []Edit{web, containerEdit("delivery.git.edits[1]", "clock.yaml", "clock")},
			field: "delivery.git.edits[1].yaml.file", reason: "app/clock.yaml does not exist"},
		{name: "a kustomize edit without a kustomization", edits: []Edit{web, {Name: "delivery.git.edits[1]", Path: "app", Kustomize: &KustomizeEdit{ImageName: "other"}}},
			field: "delivery.git.path", reason: "in delivery.git.edits[1]: app has no kustomization.yaml", noKustomization: true},
		{name: "an edit of no kind", edits: []Edit{web, {Name: "delivery.git.edits[1]", Path: "app"}},
			field: "delivery.git.edits[1]", reason: "exactly one of kustomize, yaml or helm must be set, not 0"},
		{name: "edits with different paths", edits: []Edit{web, {Name: "delivery.git.edits[1]", Path: "other", Helm: &HelmEdit{}}},
			field: "delivery.git.path", reason: "in delivery.git.edits[1]: \"other\" differs"},
		{name: "no edits", field: "delivery.git.edit", reason: "no edit is set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeTree(t, map[string]string{
				"app/web.yaml": deployment, "app/worker.yaml": worker("1.3.0"), "other/worker.yaml": worker("1.3.0"),
				"app/values.yaml": "image:\n  repository: ghcr.io/acme/web\n  tag: 1.3.0\n",
			})
			for link, target := range map[string]string{"app/escape.yaml": "../other/worker.yaml", "app/web-link.yaml": "web.yaml"} {
				if err := os.Symlink(target, filepath.Join(root, filepath.FromSlash(link))); err != nil {
					t.Fatal(err)
				}
			}
			if !tt.noKustomization {
				write(t, root, "app/kustomization.yaml", "images:\n- name: ghcr.io/acme/web\n  newTag: 1.3.0\n")
			}
			before := hashTree(t, root)

			got, err := ApplyAll(root, tt.edits, Image{Repository: "ghcr.io/acme/web", Tag: "1.4.0"}, Options{})

			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("ApplyAll = %+v, %v; want an *Error matching ErrInvalid", got, err)
			}
			t.Log(err)
			if e.Field != tt.field || !strings.Contains(e.Reason, tt.reason) {
				t.Errorf("error = %q\nwant field %q and a reason containing %q", err, tt.field, tt.reason)
			}
			if errors.Is(err, ErrPathEscapes) != tt.escapes {
				t.Errorf("errors.Is(err, ErrPathEscapes) = %v, want %v", !tt.escapes, tt.escapes)
			}
			if len(got.Files) != 0 || slices.ContainsFunc(got.Edits, func(r Result) bool { return r.Changed }) {
				t.Errorf("ApplyAll reports writes on error: %+v", got)
			}
			if changed := diffTrees(before, hashTree(t, root)); len(changed) != 0 {
				t.Errorf("the checkout changed: %v", changed)
			}
		})
	}
}

func write(t *testing.T, root, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(root, filepath.FromSlash(name)), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
