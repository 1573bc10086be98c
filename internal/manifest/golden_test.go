package manifest

import (
	"flag"
	"os"
	"path"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const (
	digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	webNew  = "ghcr.io/acme/web:1.4.0"
)

// TestGolden edits each testdata/golden/<name>.input.yaml, compares the
// result with <name>.golden.yaml, and checks how many lines changed: the
// diff a reviewer reads must be as small as the change.
func TestGolden(t *testing.T) {
	tests := []struct {
		name    string
		file    string // where the input goes in the checkout
		edit    Edit
		image   string
		opts    Options
		removed int
		added   int
	}{
		{name: "kustomize-tag", file: "overlays/prod/kustomization.yaml",
			edit: Edit{Path: "overlays/prod", Kustomize: &KustomizeEdit{}}, image: webNew, removed: 1, added: 1},
		{name: "kustomize-digest", file: "kustomization.yaml",
			edit: Edit{Kustomize: &KustomizeEdit{}}, image: webNew + "@" + digestA, opts: Options{PinDigest: true}, removed: 1, added: 1},
		{name: "kustomize-newname", file: "app/kustomization.yml",
			edit: Edit{Path: "app", Kustomize: &KustomizeEdit{ImageName: "web"}}, image: webNew, removed: 2, added: 2},
		{name: "kustomize-flow", file: "kustomization.yaml",
			edit: Edit{Kustomize: &KustomizeEdit{}}, image: webNew, removed: 1, added: 1},
		{name: "kustomize-flow-entry-digest", file: "Kustomization",
			edit: Edit{Kustomize: &KustomizeEdit{}}, image: webNew + "@" + digestA, opts: Options{PinDigest: true}, removed: 1, added: 1},
		{name: "kustomize-add-entry", file: "kustomization.yaml",
			edit: Edit{Kustomize: &KustomizeEdit{}}, image: webNew, removed: 0, added: 2},
		{name: "kustomize-add-images", file: "kustomization.yaml",
			edit: Edit{Kustomize: &KustomizeEdit{}}, image: "ghcr.io/acme/web:1.20", removed: 0, added: 3},
		{name: "kustomize-crlf", file: "kustomization.yaml",
			edit: Edit{Kustomize: &KustomizeEdit{}}, image: webNew, removed: 1, added: 1},
		{name: "yaml-multidoc", file: "deploy/web.yaml",
			edit: Edit{Path: "deploy", YAML: &YAMLEdit{File: "web.yaml", Field: "spec.template.spec.containers[name=web].image"}}, image: webNew, removed: 1, added: 1},
		{name: "yaml-flow", file: "cronjob.yaml",
			edit: Edit{YAML: &YAMLEdit{File: "cronjob.yaml", Field: "spec.jobTemplate.spec.template.spec.containers[name=report].image"}}, image: "ghcr.io/acme/report:1.0.0", removed: 1, added: 1},
		{name: "yaml-plain", file: "config/app.yaml",
			edit: Edit{Path: "config", YAML: &YAMLEdit{File: "app.yaml", Field: "image"}}, image: webNew, removed: 1, added: 1},
		{name: "yaml-crlf", file: "web.yaml",
			edit: Edit{YAML: &YAMLEdit{File: "web.yaml", Field: "spec.template.spec.containers[0].image"}}, image: "ghcr.io/acme/web:1.4.0@" + digestA, opts: Options{PinDigest: true}, removed: 1, added: 1},
		{name: "yaml-alias", file: "values.yaml",
			edit: Edit{YAML: &YAMLEdit{File: "values.yaml", Field: "canary.image"}}, image: webNew, removed: 1, added: 1},
		{name: "helm-values", file: "charts/web/values.yaml",
			edit: Edit{Path: "charts/web", Helm: &HelmEdit{}}, image: "ghcr.io/acme/web:1.20", removed: 1, added: 1},
		{name: "helm-image-field", file: "values-prod.yaml",
			edit: Edit{Helm: &HelmEdit{File: "values-prod.yaml", ImageField: "web.image"}}, image: webNew + "@" + digestA, opts: Options{PinDigest: true}, removed: 1, added: 1},
		{name: "helm-custom-fields", file: "values.yaml",
			edit: Edit{Helm: &HelmEdit{RepositoryField: "app.image.name", TagField: "app.image.version"}}, image: webNew, removed: 2, added: 2},
		{name: "helm-flow", file: "values.yaml",
			edit: Edit{Helm: &HelmEdit{}}, image: "ghcr.io/acme/web:v1.4.0", removed: 1, added: 1},
		{name: "helm-null-tag-crlf", file: "values.yaml",
			edit: Edit{Helm: &HelmEdit{}}, image: webNew, removed: 1, added: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inputPath := filepath.Join("testdata", "golden", tt.name+".input.yaml")
			goldenPath := filepath.Join("testdata", "golden", tt.name+".golden.yaml")
			input, err := os.ReadFile(inputPath)
			if err != nil {
				t.Fatal(err)
			}
			root := writeTree(t, map[string]string{tt.file: string(input), "README.md": "untouched\n"})
			target := filepath.Join(root, filepath.FromSlash(tt.file))
			if err := os.Chmod(target, 0o640); err != nil {
				t.Fatal(err)
			}
			before := hashTree(t, root)

			res, err := Apply(root, tt.edit, mustImage(t, tt.image), tt.opts)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if res.File != path.Clean(tt.file) || !res.Changed {
				t.Errorf("Result = %+v, want File %q and Changed", res, tt.file)
			}
			got, err := os.ReadFile(target)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(goldenPath)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("output differs from %s:\n--- got\n%s\n--- want\n%s", goldenPath, got, want)
			}
			if removed, added := lineDiff(string(input), string(got)); removed != tt.removed || added != tt.added {
				t.Errorf("diff is -%d +%d lines, want -%d +%d", removed, added, tt.removed, tt.added)
			}
			if changed := diffTrees(before, hashTree(t, root)); len(changed) != 1 || changed[0] != filepath.FromSlash(tt.file) {
				t.Errorf("changed entries = %v, want only %s", changed, tt.file)
			}
			if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o640 {
				t.Errorf("mode after edit = %v, %v; want 0640", fi.Mode(), err)
			}

			// Applying the same image again finds nothing to do and does not
			// even rewrite the file.
			past := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
			if err := os.Chtimes(target, past, past); err != nil {
				t.Fatal(err)
			}
			before = hashTree(t, root)
			res, err = Apply(root, tt.edit, mustImage(t, tt.image), tt.opts)
			if err != nil || res.Changed {
				t.Errorf("second Apply = %+v, %v; want no change", res, err)
			}
			if changed := diffTrees(before, hashTree(t, root)); len(changed) != 0 {
				t.Errorf("second Apply changed %v", changed)
			}
			if fi, err := os.Stat(target); err != nil || !fi.ModTime().Equal(past) {
				t.Errorf("second Apply rewrote the file (mtime %v, %v)", fi.ModTime(), err)
			}
		})
	}
}
