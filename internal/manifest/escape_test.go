package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEditNeverLeavesDeliveryPath is class 6 of issue 18: a symlink must not
// move staging's edit into production's files, elsewhere in the repository
// or outside it. Each case is refused with ErrPathEscapes, names the link
// and where it points, and leaves every byte of the checkout as it was.
func TestEditNeverLeavesDeliveryPath(t *testing.T) {
	const kustomization = "images:\n- name: ghcr.io/acme/web\n  newTag: 1.0.0\n"
	const values = "image:\n  repository: ghcr.io/acme/web\n  tag: 1.0.0\n"
	web := Image{Repository: "ghcr.io/acme/web", Tag: "2.0.0"}
	repo := map[string]string{
		"production/kustomization.yaml": kustomization,
		"production/chart/values.yaml":  values,
		"production/web.yaml":           deployment,
		"staging/deployment.yaml":       deployment,
	}
	tests := []struct {
		name   string
		links  map[string]string // path -> target; "OUTSIDE" is a file outside the checkout
		edit   Edit
		field  string
		reason string
	}{
		{name: "kustomization linked to production's",
			links: map[string]string{"staging/kustomization.yaml": "../production/kustomization.yaml"},
			edit:  Edit{Path: "staging", Kustomize: &KustomizeEdit{}},
			field: fieldPath, reason: "symlink staging/kustomization.yaml -> ../production/kustomization.yaml leaves delivery.git.path staging for production/kustomization.yaml"},
		{name: "yaml file linked to production's",
			links: map[string]string{"staging/web.yaml": "../production/web.yaml"},
			edit:  Edit{Path: "staging", YAML: &YAMLEdit{File: "web.yaml", Field: "spec.template.spec.containers[name=web].image"}},
			field: fieldYAMLFile, reason: "leaves delivery.git.path staging for production/web.yaml"},
		{name: "symlinked directory inside the path",
			links: map[string]string{"staging/chart": "../production/chart"},
			edit:  Edit{Path: "staging", Helm: &HelmEdit{File: "chart/values.yaml"}},
			field: fieldHelmFile, reason: "symlink staging/chart -> ../production/chart leaves delivery.git.path staging for production/chart"},
		{name: "the delivery path is a link",
			links: map[string]string{"canary": "production"},
			edit:  Edit{Path: "canary", Kustomize: &KustomizeEdit{}},
			field: fieldPath, reason: "canary is a symlink to production; delivery.git.path must be a directory of the repository itself"},
		{name: "a directory above the delivery path is a link",
			links: map[string]string{"apps": "."},
			edit:  Edit{Path: "apps/production", Kustomize: &KustomizeEdit{}},
			field: fieldPath, reason: "apps is a symlink to ."},
		{name: "link outside the checkout",
			links: map[string]string{"staging/values.yaml": "OUTSIDE"},
			edit:  Edit{Path: "staging", Helm: &HelmEdit{}},
			field: fieldHelmFile, reason: "leaves the repository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outsideDir := writeTree(t, map[string]string{"values.yaml": values})
			root := writeTree(t, repo)
			for link, target := range tt.links {
				if target == "OUTSIDE" {
					target = filepath.Join(outsideDir, "values.yaml")
				}
				if err := os.Symlink(target, filepath.Join(root, filepath.FromSlash(link))); err != nil {
					t.Fatal(err)
				}
			}
			before, beforeOutside := hashTree(t, root), hashTree(t, outsideDir)

			res, err := Apply(root, tt.edit, web, Options{})

			var e *Error
			if !errors.Is(err, ErrPathEscapes) || !errors.As(err, &e) {
				t.Fatalf("Apply = %+v, %v; want an error matching ErrPathEscapes", res, err)
			}
			t.Log(err)
			if e.Field != tt.field || !strings.Contains(e.Reason, tt.reason) {
				t.Errorf("error = %q\nwant field %q and a reason containing %q", err, tt.field, tt.reason)
			}
			if changed := diffTrees(before, hashTree(t, root)); len(changed) != 0 {
				t.Errorf("checkout changed: %v", changed)
			}
			if changed := diffTrees(beforeOutside, hashTree(t, outsideDir)); len(changed) != 0 {
				t.Errorf("outside the checkout changed: %v", changed)
			}
		})
	}
}

// TestLinkInsideDeliveryPathIsFollowed checks that the jail is not a ban on
// symlinks: a link that stays inside delivery.git.path edits its target.
func TestLinkInsideDeliveryPathIsFollowed(t *testing.T) {
	root := writeTree(t, map[string]string{"staging/values-v2.yaml": "image:\n  repository: ghcr.io/acme/web\n  tag: 1.0.0\n"})
	if err := os.Symlink("values-v2.yaml", filepath.Join(root, "staging", "values.yaml")); err != nil {
		t.Fatal(err)
	}
	res, err := Apply(root, Edit{Path: "staging", Helm: &HelmEdit{}}, Image{Repository: "ghcr.io/acme/web", Tag: "2.0.0"}, Options{})
	if err != nil || !res.Changed || res.File != "staging/values-v2.yaml" {
		t.Fatalf("Apply = %+v, %v; want staging/values-v2.yaml changed", res, err)
	}
	data, err := os.ReadFile(filepath.Join(root, "staging", "values-v2.yaml"))
	if err != nil || !strings.Contains(string(data), "tag: 2.0.0") {
		t.Fatalf("values-v2.yaml = %q, %v", data, err)
	}
	if fi, err := os.Lstat(filepath.Join(root, "staging", "values.yaml")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v, %v", fi, err)
	}
}
