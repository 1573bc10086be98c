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
//
// With -hook, it then plays the forge: it POSTs a GitHub push event for the
// branch to that URL (Baton's receiver, /hooks/<namespace>/<environment>),
// signed with X-Hub-Signature-256 by the token in -hook-secret-file, and
// prints the receiver's answer on stderr. Without it, Baton sees the commit
// at its next poll (spec.source.git.interval).
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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
	hook := flag.String("hook", "", "After the push, POST a signed GitHub push event to this URL (e.g. http://127.0.0.1:17409/hooks/web/staging). Empty: no hook.")
	hookSecretFile := flag.String("hook-secret-file", "", "The file holding the webhook token (the key \"token\" of spec.source.git.webhookSecretRef's Secret). Required with -hook.")
	flag.Parse()
	if *hook != "" && *hookSecretFile == "" {
		fmt.Fprintln(os.Stderr, "merge: -hook needs -hook-secret-file")
		os.Exit(2)
	}
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
	if *hook != "" {
		if err := notify(ctx, *hook, *hookSecretFile, *branch, sha, *message); err != nil {
			fmt.Fprintln(os.Stderr, "merge: pushed, but the hook failed:", err)
			os.Exit(1)
		}
	}
}

// notify sends what GitHub sends for a push: a JSON body with the ref, the
// event in X-GitHub-Event, and the HMAC-SHA256 of the body in
// X-Hub-Signature-256.
func notify(ctx context.Context, url, secretFile, branch, sha, message string) error {
	secret, err := os.ReadFile(secretFile)
	if err != nil {
		return err
	}
	body, err := json.Marshal(map[string]any{
		"ref":         "refs/heads/" + branch,
		"after":       sha,
		"head_commit": map[string]string{"id": sha, "message": message},
	})
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, bytes.TrimSpace(secret))
	mac.Write(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	line := strings.TrimSpace(string(answer))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s: %s", url, resp.Status, line)
	}
	fmt.Fprintf(os.Stderr, "hook: %d %s\n", resp.StatusCode, line)
	return nil
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
