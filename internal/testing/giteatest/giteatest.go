// Package giteatest runs a real Gitea for tests: built from the Go module
// proxy by `make gitea`, serving its API and Git over HTTPS with a
// certificate the test issues, on a SQLite database in a temporary
// directory.
package giteatest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/baton-dev/baton/internal/certs"
)

// Admin is the site administrator Start creates; the tests act as it to
// set up organizations, repositories, users and hooks.
const Admin = "gitea-admin"

// Gitea is a running Gitea.
type Gitea struct {
	// URL is its base URL, https://127.0.0.1:<port>.
	URL string
	// CA is the PEM bundle that trusts its serving certificate.
	CA []byte
	// AdminPassword is Admin's password.
	AdminPassword string

	cmd    *exec.Cmd
	client *http.Client
	log    string
}

// Binary is the Gitea to run: $GITEA (make test sets it to the one `make
// gitea` built). Its directory also holds Gitea's options/ and templates/.
func Binary() (string, error) {
	p := os.Getenv("GITEA")
	if p == "" {
		return "", fmt.Errorf("no Gitea: set GITEA to the binary `make gitea` builds into bin/gitea/<version>/gitea")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(p), "options")); err != nil {
		return "", fmt.Errorf("GITEA=%s: its directory has no options/ (make gitea copies it there): %w", p, err)
	}
	return p, nil
}

var appINI = template.Must(template.New("app.ini").Parse(`APP_NAME = baton-test
RUN_USER = {{.User}}
RUN_MODE = prod
WORK_PATH = {{.Dir}}
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true

[server]
PROTOCOL = https
HTTP_ADDR = 127.0.0.1
HTTP_PORT = {{.Port}}
ROOT_URL = https://127.0.0.1:{{.Port}}/
CERT_FILE = {{.Dir}}/tls.crt
KEY_FILE = {{.Dir}}/tls.key
STATIC_ROOT_PATH = {{.Static}}
APP_DATA_PATH = {{.Dir}}/data
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false

[database]
DB_TYPE = sqlite3
PATH = {{.Dir}}/gitea.db
SQLITE_JOURNAL_MODE = WAL

[repository]
ROOT = {{.Dir}}/repositories

[security]
INSTALL_LOCK = true
SECRET_KEY = {{.Secret}}
INTERNAL_TOKEN = {{.Internal}}
PASSWORD_HASH_ALGO = pbkdf2_hi

[oauth2]
ENABLED = false

[service]
DISABLE_REGISTRATION = true
REQUIRE_SIGNIN_VIEW = true

[webhook]
; Baton's receiver listens on the loopback in the tests.
ALLOWED_HOST_LIST = loopback
DELIVER_TIMEOUT = 10

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[queue]
TYPE = channel

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[actions]
ENABLED = false

[packages]
ENABLED = false

[mailer]
ENABLED = false

[cron]
ENABLED = false

[log]
MODE = console
LEVEL = Warn
ROOT_PATH = {{.Dir}}/log
`))

// Site is a Gitea's files: its work path, app.ini and log, for a server on
// 127.0.0.1:Port with the serving certificate tls.crt and tls.key in Dir.
type Site struct {
	Bin  string
	Dir  string
	Port int
}

// Config is the app.ini of the site.
func (s Site) Config() string { return filepath.Join(s.Dir, "app.ini") }

// WebArgs are the arguments of `gitea web` for the site.
func (s Site) WebArgs() []string {
	return []string{"web", "--config", s.Config(), "--work-path", s.Dir}
}

// Env is the environment Gitea runs with: its home is the site.
func (s Site) Env() []string {
	return append(os.Environ(), "GITEA_WORK_DIR="+s.Dir, "HOME="+s.Dir)
}

// Install writes the site's serving certificate and app.ini, creates the
// database and the site administrator Admin with adminPassword, writing
// Gitea's output to log. Installing again over an installed site keeps its
// app.ini (and so its secrets), its database and its users.
func (s Site) Install(cert, key []byte, adminPassword string, log io.Writer) error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "tls.crt"), cert, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "tls.key"), key, 0o600); err != nil {
		return err
	}
	installed := false
	if _, err := os.Stat(s.Config()); err == nil {
		installed = true
	} else {
		u, err := user.Current()
		if err != nil {
			return err
		}
		var ini bytes.Buffer
		if err := appINI.Execute(&ini, map[string]any{
			"User": u.Username, "Dir": s.Dir, "Port": s.Port, "Static": filepath.Dir(s.Bin),
			"Secret": randomHex(32), "Internal": randomHex(32),
		}); err != nil {
			return err
		}
		if err := os.WriteFile(s.Config(), ini.Bytes(), 0o600); err != nil {
			return err
		}
	}
	run := func(args ...string) error {
		cmd := exec.Command(s.Bin, append(args, "--config", s.Config(), "--work-path", s.Dir)...)
		cmd.Dir, cmd.Stdout, cmd.Stderr, cmd.Env = s.Dir, log, log, s.Env()
		return cmd.Run()
	}
	if err := run("migrate"); err != nil {
		return fmt.Errorf("gitea migrate: %w", err)
	}
	if installed {
		return nil
	}
	if err := run("admin", "user", "create", "--admin", "--username", Admin, "--password", adminPassword,
		"--email", Admin+"@example.com", "--must-change-password=false"); err != nil {
		// Without app.ini the next Install starts over.
		_ = os.Remove(s.Config())
		return fmt.Errorf("gitea admin user create: %w", err)
	}
	return nil
}

// Start runs Gitea in dir, creates Admin, and waits until its API answers.
func Start(dir string) (*Gitea, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	ca, err := certs.NewCA("giteatest-ca", 24*time.Hour)
	if err != nil {
		return nil, err
	}
	serving, err := certs.NewServerCert(ca, []string{"127.0.0.1"}, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	site := Site{Bin: bin, Dir: dir, Port: port}
	logFile := filepath.Join(dir, "gitea.log")
	log, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	g := &Gitea{URL: fmt.Sprintf("https://127.0.0.1:%d", port), CA: ca.Cert, AdminPassword: "Adm1n-" + randomHex(8), log: logFile}
	if err := site.Install(serving.Cert, serving.Key, g.AdminPassword, log); err != nil {
		return nil, fmt.Errorf("%w; the end of its log:\n%s", err, tail(logFile, 4096))
	}
	g.cmd = exec.Command(bin, site.WebArgs()...)
	g.cmd.Dir, g.cmd.Stdout, g.cmd.Stderr, g.cmd.Env = dir, log, log, site.Env()
	if err := g.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	g.client = &http.Client{Timeout: 30 * time.Second, Transport: g.Transport()}
	if err := g.WaitReady(2 * time.Minute); err != nil {
		g.Stop()
		return nil, err
	}
	return g, nil
}

// Connect is a client of the Gitea at url (https://127.0.0.1:<port>) that
// trusts ca, acting as Admin with adminPassword. It starts nothing: Stop
// does nothing.
func Connect(url string, ca []byte, adminPassword, log string) *Gitea {
	g := &Gitea{URL: url, CA: ca, AdminPassword: adminPassword, log: log}
	g.client = &http.Client{Timeout: 30 * time.Second, Transport: g.Transport()}
	return g
}

// Transport trusts Gitea's serving certificate, and nothing else.
func (g *Gitea) Transport() *http.Transport {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(g.CA)
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
}

// WaitReady waits until the API answers the administrator, at most timeout.
func (g *Gitea) WaitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.URL+"/api/v1/version", nil)
		req.SetBasicAuth(Admin, g.AdminPassword)
		if resp, err := g.client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gitea at %s not ready within %s; the end of its log:\n%s", g.URL, timeout, tail(g.log, 4096))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Stop ends the process.
func (g *Gitea) Stop() {
	if g.cmd != nil && g.cmd.Process != nil {
		_ = g.cmd.Process.Kill()
		_ = g.cmd.Wait()
	}
}

// Call makes one API call as user (basic auth with password), sending in
// as JSON when it is not nil and decoding the answer into out when it is
// not nil. An answer other than 2xx is an error with Gitea's message.
func (g *Gitea) Call(method, path, user, password string, in, out any) error {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, g.URL+"/api/v1"+path, body)
	if err != nil {
		return err
	}
	req.SetBasicAuth(user, password)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := g.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(raw)))
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// AsAdmin makes one API call as the site administrator.
func (g *Gitea) AsAdmin(method, path string, in, out any) error {
	return g.Call(method, path, Admin, g.AdminPassword, in, out)
}

// CreateUser creates a user who is not an administrator, and returns its
// password.
func (g *Gitea) CreateUser(name string) (string, error) {
	password := "Pw-" + randomHex(8)
	f := false
	return password, g.AsAdmin(http.MethodPost, "/admin/users", map[string]any{
		"username": name, "email": name + "@example.com", "password": password, "must_change_password": &f,
	}, nil)
}

// Token creates an access token of user with scopes, and returns it.
func (g *Gitea) Token(user, password, name string, scopes ...string) (string, error) {
	var out struct {
		SHA1 string `json:"sha1"`
	}
	err := g.Call(http.MethodPost, "/users/"+user+"/tokens", user, password, map[string]any{"name": name, "scopes": scopes}, &out)
	return out.SHA1, err
}

// Status is a commit status as Gitea's API returns it.
type Status struct {
	ID          int64  `json:"id"`
	State       string `json:"status"`
	Context     string `json:"context"`
	Description string `json:"description"`
	Creator     struct {
		Login string `json:"login"`
	} `json:"creator"`
}

// Statuses are the commit statuses of sha in owner/repo in the order they
// were created, as the administrator reads them.
func (g *Gitea) Statuses(repo, sha string) ([]Status, error) {
	var out []Status
	err := g.AsAdmin(http.MethodGet, "/repos/"+repo+"/statuses/"+sha+"?limit=50", nil, &out)
	slices.SortFunc(out, func(a, b Status) int { return cmp.Compare(a.ID, b.ID) })
	return out, err
}

// tail is the last n bytes of file, for an error message.
func tail(file string, n int64) string {
	f, err := os.Open(file)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
