package main

import (
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

// The bare repositories of `make dev` live under <dir>/git/ (the config
// repository of GITOPS=flux, and those the e2e suites make), served over
// Git's smart HTTP protocol by `git http-backend` (CGI) on
// 127.0.0.1:<base+10>. The sample application's repository is in Gitea
// (gitea.go); the token that signs its push webhook is <dir>/git/hook-token.

func (c *cluster) gitRoot() string   { return filepath.Join(c.dir, "git") }
func (c *cluster) hookToken() string { return filepath.Join(c.gitRoot(), "hook-token") }

// gitInit creates <dir>/git and the push-hook token, unless they exist.
// Running it again changes nothing.
func (c *cluster) gitInit() error {
	if err := os.MkdirAll(c.gitRoot(), 0o700); err != nil {
		return err
	}
	if exists(c.hookToken()) {
		return nil
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return err
	}
	return os.WriteFile(c.hookToken(), []byte(hex.EncodeToString(buf)), 0o600)
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
	log.Printf("serving %s on http://%s/", c.gitRoot(), addr)
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
