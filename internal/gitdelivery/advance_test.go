package gitdelivery

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/object"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// After another committer moves the branch, the retry's worktree moves to
// the new head file by file when every change is a regular file, and in
// full otherwise; either way the commit carries the other committer's
// change and Baton's edit, and nothing else.
func TestTheWorktreeFollowsAnotherCommitter(t *testing.T) {
	tests := []struct {
		name    string
		change  func(t *testing.T, dir string, wt *git.Worktree)
		gone    string // a file the other commit deleted
		added   string // a file the other commit added
		advance bool
	}{
		{name: "files added, changed and deleted", advance: true, gone: "README.md", added: "docs/new/notes.txt",
			change: func(t *testing.T, dir string, wt *git.Worktree) {
				write(t, filepath.Join(dir, "docs/new/notes.txt"), "notes\n")
				write(t, filepath.Join(dir, "staging/kustomization.yaml"), "# Staging web, edited by hand\nimages:\n  - name: registry.example/web\n    newTag: hand\n")
				if err := os.Remove(filepath.Join(dir, "README.md")); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "a symlink is a full reset", advance: false, added: "link",
			change: func(t *testing.T, dir string, wt *git.Worktree) {
				if err := os.Symlink("README.md", filepath.Join(dir, "link")); err != nil {
					t.Fatal(err)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRemote(t, "production", "staging")
			d := newDeliverer(t)
			ctx := testContext(t, nil)
			e := environment("production", r.httpURL(), httpSecret(t))
			if _, err := d.Deliver(ctx, request(e, "v2")); err != nil {
				t.Fatal(err)
			}

			// Another committer, with the git library, over HTTP.
			dir := t.TempDir()
			auth := &githttp.BasicAuth{Username: gitUser, Password: gitPassword}
			other, err := git.PlainClone(dir, false, &git.CloneOptions{URL: r.httpURL(), Auth: auth, ReferenceName: "refs/heads/main"})
			if err != nil {
				t.Fatal(err)
			}
			wt, err := other.Worktree()
			if err != nil {
				t.Fatal(err)
			}
			tc.change(t, dir, wt)
			if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
				t.Fatal(err)
			}
			sig := &object.Signature{Name: "Other", Email: "other@example.com", When: time.Now()}
			if _, err := wt.Commit("by hand", &git.CommitOptions{Author: sig, Committer: sig}); err != nil {
				t.Fatal(err)
			}
			if err := other.Push(&git.PushOptions{Auth: auth, RefSpecs: []config.RefSpec{"refs/heads/main:refs/heads/main"}}); err != nil {
				t.Fatal(err)
			}
			external := r.head(t, "main")

			before := d.Stats.Advances.Load()
			rec, err := d.Deliver(ctx, request(e, "v3"))
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Stats.Advances.Load() - before; (got > 0) != tc.advance {
				t.Fatalf("advances = %d; want file by file: %v", got, tc.advance)
			}
			head := r.head(t, "main")
			if rec.Commit != head.String() || r.commit(t, head).ParentHashes[0] != external {
				t.Fatalf("Baton's commit %s is not the head %s on top of %s", rec.Commit, head, external)
			}
			if got := r.file(t, head, "production/kustomization.yaml"); got != "# Production web\nresources:\n  - deployment.yaml\nimages:\n  - name: registry.example/web\n    newTag: v3\n" {
				t.Fatalf("production at the head:\n%s", got)
			}
			// The commit changes exactly the one file against the other's.
			stats, err := r.commit(t, head).Stats()
			if err != nil {
				t.Fatal(err)
			}
			if len(stats) != 1 || stats[0].Name != "production/kustomization.yaml" {
				t.Fatalf("Baton's commit changes %v; want only production/kustomization.yaml", stats)
			}
			if tc.gone != "" {
				if _, err := r.commit(t, head).File(tc.gone); err == nil {
					t.Fatalf("%s came back", tc.gone)
				}
			}
			tree, err := r.commit(t, head).Tree()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tree.FindEntry(tc.added); err != nil {
				t.Fatalf("%s is missing at the head: %v", tc.added, err)
			}

			// And the next delivery still starts from a worktree that is
			// exactly the head.
			if _, err := d.Deliver(ctx, request(e, "v4")); err != nil {
				t.Fatal(err)
			}
			if got := r.file(t, r.head(t, "main"), "production/kustomization.yaml"); got != "# Production web\nresources:\n  - deployment.yaml\nimages:\n  - name: registry.example/web\n    newTag: v4\n" {
				t.Fatalf("production after v4:\n%s", got)
			}
		})
	}
}
