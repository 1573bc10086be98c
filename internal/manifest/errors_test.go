package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const deployment = `apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
      - name: web
        image: ghcr.io/acme/web:1.3.0
`

// TestBadInput checks that every configuration mistake fails with an error
// that names the Environment field and says why, that callers can classify
// it as the user's to fix, and that it leaves every byte of the checkout, and
// of what lies outside it, as it was.
func TestBadInput(t *testing.T) {
	web := Image{Repository: "ghcr.io/acme/web", Tag: "1.4.0"}
	tests := []struct {
		name   string
		files  map[string]string
		links  map[string]string // path -> symlink target; "OUTSIDE" is a directory outside the checkout
		edit   Edit
		image  Image
		opts   Options
		field  string
		reason string
	}{
		{name: "path traversal by ..", edit: Edit{Path: "apps/../../outside", Kustomize: &KustomizeEdit{}},
			field: "delivery.git.path", reason: `contains ".."`},
		{name: "file traversal by ..", files: map[string]string{"a/web.yaml": deployment},
			edit:  Edit{Path: "a", YAML: &YAMLEdit{File: "../../etc/passwd", Field: "image"}},
			field: "delivery.git.edit.yaml.file", reason: `contains ".."`},
		{name: "traversal by a directory symlink", links: map[string]string{"deploy": "OUTSIDE"},
			edit:  Edit{YAML: &YAMLEdit{File: "deploy/web.yaml", Field: "spec.template.spec.containers[name=web].image"}},
			field: "delivery.git.edit.yaml.file", reason: "leaves the repository"},
		{name: "traversal by a relative file symlink", links: map[string]string{"chart/values.yaml": "../../outside-values.yaml"},
			edit:  Edit{Path: "chart", Helm: &HelmEdit{}},
			field: "delivery.git.edit.helm.file", reason: "symlink chart/values.yaml -> ../../outside-values.yaml leaves the repository"},
		{name: "traversal by the delivery path symlink", links: map[string]string{"overlays": "OUTSIDE"},
			edit:  Edit{Path: "overlays", Kustomize: &KustomizeEdit{}},
			field: "delivery.git.path", reason: "outside the repository"},
		{name: "dangling symlink", links: map[string]string{"values.yaml": "nowhere.yaml"},
			edit:  Edit{Helm: &HelmEdit{}},
			field: "delivery.git.edit.helm.file", reason: "symlink values.yaml -> nowhere.yaml does not resolve"},
		{name: "absolute delivery path", edit: Edit{Path: "/etc", Kustomize: &KustomizeEdit{}},
			field: "delivery.git.path", reason: "is absolute"},
		{name: "absolute helm file", edit: Edit{Helm: &HelmEdit{File: "/etc/passwd"}},
			field: "delivery.git.edit.helm.file", reason: "is absolute"},
		{name: "missing file", files: map[string]string{"web.yaml": deployment},
			edit:  Edit{YAML: &YAMLEdit{File: "missing.yaml", Field: "image"}},
			field: "delivery.git.edit.yaml.file", reason: "missing.yaml does not exist"},
		{name: "missing delivery path", edit: Edit{Path: "overlays/prod", Kustomize: &KustomizeEdit{}},
			field: "delivery.git.path", reason: "overlays/prod does not exist"},
		{name: "missing field path", files: map[string]string{"web.yaml": "kind: Deployment\nspec:\n  replicas: 2\n"},
			edit:  Edit{YAML: &YAMLEdit{File: "web.yaml", Field: "spec.template.spec.containers[name=web].image"}},
			field: "delivery.git.edit.yaml.field", reason: "spec.template: no such field"},
		{name: "image field is a map", files: map[string]string{"values.yaml": "image:\n  repository: ghcr.io/acme/web\n"},
			edit:  Edit{Helm: &HelmEdit{ImageField: "image"}},
			field: "delivery.git.edit.helm.imageField", reason: "image is a map, want a string"},
		{name: "path through a string", files: map[string]string{"values.yaml": "image: web:1\n"},
			edit:  Edit{Helm: &HelmEdit{}},
			field: "delivery.git.edit.helm.repositoryField", reason: "image is a string, not a map"},
		{name: "malformed YAML", files: map[string]string{"web.yaml": "kind: Deployment\nspec:\n  a: b\n c: [d\n"},
			edit:  Edit{YAML: &YAMLEdit{File: "web.yaml", Field: "spec.a"}},
			field: "delivery.git.edit.yaml.file", reason: "web.yaml is not valid YAML: line 3: did not find expected key"},
		{name: "invalid UTF-8", files: map[string]string{"kustomization.yaml": "images:\n- name: web\n  newTag: \xff\n"},
			edit:  Edit{Kustomize: &KustomizeEdit{}},
			field: "delivery.git.path", reason: "line 3"},
		{name: "oversized file", files: map[string]string{"values.yaml": "image:\n  repository: x\n  tag: \"" + strings.Repeat("1", 100) + "\"\n"},
			edit: Edit{Helm: &HelmEdit{}}, opts: Options{MaxFileSize: 64},
			field: "delivery.git.edit.helm.file", reason: "over the limit of 64"},
		{name: "no entry and adding disabled", files: map[string]string{"kustomization.yaml": "images:\n- name: ghcr.io/acme/worker\n  newTag: v1\n"},
			edit: Edit{Kustomize: &KustomizeEdit{}}, opts: Options{NoAddEntry: true},
			field: "delivery.git.edit.kustomize.imageName", reason: `no images: entry named "ghcr.io/acme/web", and adding one is disabled`},
		{name: "no images key and adding disabled", files: map[string]string{"kustomization.yaml": "resources: [a.yaml]\n"},
			edit: Edit{Kustomize: &KustomizeEdit{}}, opts: Options{NoAddEntry: true},
			field: "delivery.git.edit.kustomize.imageName", reason: "adding one is disabled"},
		{name: "duplicate images entries", files: map[string]string{"kustomization.yaml": "images:\n- name: web\n  newTag: v1\n- name: web\n  newTag: v2\n"},
			edit:  Edit{Kustomize: &KustomizeEdit{ImageName: "web"}},
			field: "delivery.git.edit.kustomize.imageName", reason: `2 entries named "web" (lines 2 and 4)`},
		{name: "two kustomization files", files: map[string]string{"kustomization.yaml": "images: []\n", "Kustomization": "images: []\n"},
			edit:  Edit{Kustomize: &KustomizeEdit{}},
			field: "delivery.git.path", reason: "more than one kustomization file"},
		{name: "no kustomization file", files: map[string]string{"app/deploy.yaml": deployment},
			edit:  Edit{Path: "app", Kustomize: &KustomizeEdit{}},
			field: "delivery.git.path", reason: "app has no kustomization.yaml"},
		{name: "directory where a file is expected", files: map[string]string{"web.yaml/deploy.yaml": deployment},
			edit:  Edit{YAML: &YAMLEdit{File: "web.yaml", Field: "image"}},
			field: "delivery.git.edit.yaml.file", reason: "web.yaml is a directory, want a file"},
		{name: "file where a directory is expected", files: map[string]string{"overlays": "not a dir\n"},
			edit:  Edit{Path: "overlays", Kustomize: &KustomizeEdit{}},
			field: "delivery.git.path", reason: "overlays is a file, want a directory"},
		{name: "unparsable image reference", files: map[string]string{"web.yaml": deployment},
			edit:  Edit{YAML: &YAMLEdit{File: "web.yaml", Field: "spec.template.spec.containers[0].image"}},
			image: Image{Repository: "ghcr.io/Acme/Web", Tag: "1.0"},
			field: "image", reason: `"ghcr.io/Acme/Web:1.0"`},
		{name: "empty field path", files: map[string]string{"web.yaml": deployment},
			edit:  Edit{YAML: &YAMLEdit{File: "web.yaml", Field: ""}},
			field: "delivery.git.edit.yaml.field", reason: "the field path is empty"},
		{name: "bad selector syntax", files: map[string]string{"web.yaml": deployment},
			edit:  Edit{YAML: &YAMLEdit{File: "web.yaml", Field: "spec.template.spec.containers[name=].image"}},
			field: "delivery.git.edit.yaml.field", reason: `bad selector "[name=]"`},
		{name: "no container matches the selector", files: map[string]string{"web.yaml": deployment},
			edit:  Edit{YAML: &YAMLEdit{File: "web.yaml", Field: "spec.template.spec.containers[name=api].image"}},
			field: "delivery.git.edit.yaml.field", reason: "spec.template.spec.containers: no element matches [name=api]"},
		{name: "two containers match the selector", files: map[string]string{"web.yaml": deployment + "      - name: web\n        image: x:1\n"},
			edit:  Edit{YAML: &YAMLEdit{File: "web.yaml", Field: "spec.template.spec.containers[name=web].image"}},
			field: "delivery.git.edit.yaml.field", reason: "two elements match [name=web]"},
		{name: "field in two documents", files: map[string]string{"web.yaml": "image: a:1\n---\nimage: b:1\n"},
			edit:  Edit{YAML: &YAMLEdit{File: "web.yaml", Field: "image"}},
			field: "delivery.git.edit.yaml.field", reason: "image is in documents 1 and 2"},
		{name: "duplicate key", files: map[string]string{"values.yaml": "image:\n  repository: a\n  tag: \"1\"\n  tag: \"2\"\n"},
			edit:  Edit{Helm: &HelmEdit{}},
			field: "delivery.git.edit.helm.tagField", reason: `field "tag" appears twice (lines 3 and 4)`},
		{name: "helm image field with tag field", files: map[string]string{"values.yaml": "image: a:1\n"},
			edit:  Edit{Helm: &HelmEdit{ImageField: "image", TagField: "tag"}},
			field: "delivery.git.edit.helm.imageField", reason: "cannot be combined"},
		{name: "helm tag field and no tag", files: map[string]string{"values.yaml": "image: {repository: a, tag: b}\n"},
			edit:  Edit{Helm: &HelmEdit{}},
			image: Image{Repository: "ghcr.io/acme/web", Digest: digestA},
			field: "delivery.git.edit.helm.tagField", reason: "has no tag"},
		{name: "no edit kind", edit: Edit{Path: "x"},
			field: "delivery.git.edit", reason: "exactly one of kustomize, yaml or helm"},
		{name: "block scalar value", files: map[string]string{"web.yaml": "image: |\n  ghcr.io/acme/web:1.3.0\n"},
			edit:  Edit{YAML: &YAMLEdit{File: "web.yaml", Field: "image"}},
			field: "delivery.git.edit.yaml.file", reason: "line 1: cannot edit in place: the value is a block scalar"},
		{name: "alias on the path", files: map[string]string{"values.yaml": "base: &b {repository: a, tag: b}\nimage: *b\n"},
			edit:  Edit{Helm: &HelmEdit{}},
			field: "delivery.git.edit.helm.repositoryField", reason: "image is the alias *b; edit the anchor instead"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outside := writeTree(t, map[string]string{"web.yaml": deployment, "kustomization.yaml": "images: []\n"})
			if err := os.WriteFile(filepath.Join(filepath.Dir(outside), "outside-values.yaml"), []byte("image: {repository: a, tag: b}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			root := writeTree(t, tt.files)
			for link, target := range tt.links {
				if target == "OUTSIDE" {
					target = outside
				}
				p := filepath.Join(root, filepath.FromSlash(link))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(target, p); err != nil {
					t.Fatal(err)
				}
			}
			img := tt.image
			if img == (Image{}) {
				img = web
			}
			before, beforeOutside := hashTree(t, root), hashTree(t, outside)

			res, err := Apply(root, tt.edit, img, tt.opts)

			if err == nil {
				t.Fatalf("Apply = %+v, want an error", res)
			}
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %q (%T) is not an *Error matching ErrInvalid", err, err)
			}
			t.Log(err)
			if e.Field != tt.field || !strings.Contains(e.Reason, tt.reason) {
				t.Errorf("error = %q\nwant field %q and a reason containing %q", err, tt.field, tt.reason)
			}
			if res.Changed {
				t.Errorf("Result.Changed is true on error")
			}
			if changed := diffTrees(before, hashTree(t, root)); len(changed) != 0 {
				t.Errorf("checkout changed: %v", changed)
			}
			if changed := diffTrees(beforeOutside, hashTree(t, outside)); len(changed) != 0 {
				t.Errorf("outside the checkout changed: %v", changed)
			}
		})
	}
}

// TestIOErrorIsNotInvalid checks that an I/O failure is not classified as
// the user's to fix, so that the controller retries it.
func TestIOErrorIsNotInvalid(t *testing.T) {
	_, err := Apply(filepath.Join(t.TempDir(), "gone"), Edit{Kustomize: &KustomizeEdit{}}, Image{Repository: "web", Tag: "1"}, Options{})
	if err == nil || errors.Is(err, ErrInvalid) {
		t.Fatalf("Apply on a missing checkout = %v, want an error that is not ErrInvalid", err)
	}
}
