package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/baton-dev/baton/hack/dev/procs"
)

// The application repository of `make dev`: a bare repository under
// <dir>/git/, served over Git's smart HTTP protocol by `git http-backend`
// (CGI) on 127.0.0.1:<base+10>, so that the staging Environment can follow
// its main branch and hack/merge can push to it.
const (
	appRepo   = "web.git"
	appBranch = "main"
)

func (c *cluster) gitRoot() string   { return filepath.Join(c.dir, "git") }
func (c *cluster) hookToken() string { return filepath.Join(c.gitRoot(), "hook-token") }
func (c *cluster) gitURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/%s", c.port(procs.GitServer), appRepo)
}

// gitInit creates the bare repository with one initial commit on main, and
// the push-hook token, unless they exist. Running it again changes nothing.
func (c *cluster) gitInit(ctx context.Context) error {
	repo := filepath.Join(c.gitRoot(), appRepo)
	if err := os.MkdirAll(c.gitRoot(), 0o700); err != nil {
		return err
	}
	if !exists(c.hookToken()) {
		buf := make([]byte, 32)
		if _, err := rand.Read(buf); err != nil {
			return err
		}
		if err := os.WriteFile(c.hookToken(), []byte(hex.EncodeToString(buf)), 0o600); err != nil {
			return err
		}
	}
	git := func(stdin string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Stdin = strings.NewReader(stdin)
		// A fixed identity and no user or system configuration: the result
		// does not depend on the machine.
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_AUTHOR_NAME=Baton Dev", "GIT_AUTHOR_EMAIL=dev@example.com",
			"GIT_COMMITTER_NAME=Baton Dev", "GIT_COMMITTER_EMAIL=dev@example.com")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return strings.TrimSpace(string(out)), nil
	}
	if head, err := git("", "--git-dir", repo, "rev-parse", "--verify", "-q", "refs/heads/"+appBranch); err == nil {
		fmt.Printf("  %-24s %s (main at %.7s)\n", "application repository", rel(repo), head)
		return nil
	}
	if _, err := git("", "init", "-q", "--bare", "--initial-branch="+appBranch, repo); err != nil {
		return err
	}
	// http-backend refuses pushes from anonymous clients unless told.
	if _, err := git("", "--git-dir", repo, "config", "http.receivepack", "true"); err != nil {
		return err
	}
	blob, err := git("# web\n\nThe sample application of `make dev`. Every commit on main deploys to staging.\n",
		"--git-dir", repo, "hash-object", "-w", "--stdin")
	if err != nil {
		return err
	}
	tree, err := git("100644 blob "+blob+"\tREADME.md\n", "--git-dir", repo, "mktree")
	if err != nil {
		return err
	}
	commit, err := git("", "--git-dir", repo, "commit-tree", tree, "-m", "Initial commit")
	if err != nil {
		return err
	}
	if _, err := git("", "--git-dir", repo, "update-ref", "refs/heads/"+appBranch, commit); err != nil {
		return err
	}
	fmt.Printf("  %-24s %s created (main at %.7s)\n", "application repository", rel(repo), commit)
	return nil
}

// gitServe serves every bare repository under <dir>/git/ over smart HTTP
// (fetch and push, no authentication) on 127.0.0.1 until SIGTERM.
func (c *cluster) gitServe(ctx context.Context) error {
	backend, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return fmt.Errorf("find git's exec path (is git installed?): %w", err)
	}
	h := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(backend)), "git-http-backend"),
		Dir:  c.gitRoot(),
		Env: []string{"GIT_PROJECT_ROOT=" + c.gitRoot(), "GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"},
		InheritEnv: []string{"PATH", "HOME"},
	}
	if !exists(h.Path) {
		return fmt.Errorf("%s is missing: install git", h.Path)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", c.port(procs.GitServer))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			h.ServeHTTP(rec, r)
			log.Printf("%s %s %d %s", r.Method, r.URL.RequestURI(), rec.status, time.Since(start).Round(time.Millisecond))
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Printf("serving %s on http://%s/ (e.g. %s)", c.gitRoot(), addr, c.gitURL())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
