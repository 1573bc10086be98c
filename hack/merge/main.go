// Command merge "merges" a change into an application repository: it clones
// the branch, commits one line to a file, and pushes, as a merged pull
// request would. It prints the new head. The dev cluster uses it to show a
// merge to main deploying to staging.
//
//	go run ./hack/merge -repo http://localhost:8080/app.git -message "Add the checkout page"
//
// -repo is a URL (http, https, ssh, file) or a path to a bare repository.
// Credentials for HTTP(S) come from GIT_USERNAME and GIT_PASSWORD (or
// GIT_TOKEN); they are never printed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
)

func main() {
	repo := flag.String("repo", "", "The application repository: a URL or a path to a bare repository (required).")
	branch := flag.String("branch", "main", "The branch to merge into.")
	message := flag.String("message", "", "The commit subject. Empty means \"Merge change <time>\".")
	file := flag.String("file", "CHANGES", "The file that gets one more line.")
	name := flag.String("author-name", "Dev Eloper", "The commit author's name.")
	email := flag.String("author-email", "dev@example.com", "The commit author's email.")
	timeout := flag.Duration("timeout", time.Minute, "How long clone and push may take.")
	flag.Parse()
	if *repo == "" {
		fmt.Fprintln(os.Stderr, "merge: -repo is required: a repository URL or a path to a bare repository")
		os.Exit(2)
	}
	if *message == "" {
		*message = "Merge change " + time.Now().UTC().Format(time.RFC3339)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	sha, err := merge(ctx, *repo, *branch, *file, *message, &object.Signature{Name: *name, Email: *email, When: time.Now()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "merge:", err)
		os.Exit(1)
	}
	fmt.Println(sha)
}

func auth() transport.AuthMethod {
	pass := os.Getenv("GIT_PASSWORD")
	if pass == "" {
		pass = os.Getenv("GIT_TOKEN")
	}
	if pass == "" {
		return nil
	}
	user := os.Getenv("GIT_USERNAME")
	if user == "" {
		user = "git"
	}
	return &githttp.BasicAuth{Username: user, Password: pass}
}

func merge(ctx context.Context, url, branch, file, message string, sig *object.Signature) (string, error) {
	if abs, err := filepath.Abs(url); err == nil {
		if _, statErr := os.Stat(abs); statErr == nil {
			url = abs
		}
	}
	a := auth()
	ref := plumbing.NewBranchReferenceName(branch)
	r, err := git.CloneContext(ctx, memory.NewStorage(), memfs.New(), &git.CloneOptions{
		URL: url, Auth: a, ReferenceName: ref, SingleBranch: true, Depth: 1,
	})
	if err != nil {
		return "", fmt.Errorf("clone branch %s of %s: %w", branch, url, err)
	}
	wt, err := r.Worktree()
	if err != nil {
		return "", fmt.Errorf("open the worktree: %w", err)
	}
	f, err := wt.Filesystem.OpenFile(file, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", file, err)
	}
	_, werr := fmt.Fprintln(f, message)
	if err := errors.Join(werr, f.Close()); err != nil {
		return "", fmt.Errorf("write %s: %w", file, err)
	}
	if _, err := wt.Add(file); err != nil {
		return "", fmt.Errorf("stage %s: %w", file, err)
	}
	sha, err := wt.Commit(message, &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		return "", fmt.Errorf("commit: %w", err)
	}
	spec := config.RefSpec(ref.String() + ":" + ref.String())
	if err := r.PushContext(ctx, &git.PushOptions{RemoteName: "origin", Auth: a, RefSpecs: []config.RefSpec{spec}}); err != nil {
		return "", fmt.Errorf("push to %s: %w", url, err)
	}
	return sha.String(), nil
}
