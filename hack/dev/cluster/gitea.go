package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/baton-dev/baton/hack/dev/procs"
	"github.com/baton-dev/baton/internal/testing/giteatest"
)

// The sample application's repository lives in a real Gitea (built by `make
// gitea`), as it would at a team's forge:
//   - the developer "dev" pushes to it over HTTPS (hack/dev/merge.sh);
//   - its push webhook, signed with <dir>/git/hook-token, tells Baton's
//     receiver at once;
//   - Baton reads it as the user "baton" with an access token, and sets the
//     commit statuses with that token.
//
// Its files are under <dir>/gitea: app.ini, the SQLite database, the
// repositories, and the users' passwords and Baton's token (mode 0600,
// never printed). It serves https://127.0.0.1:<base+18>/ with a certificate
// of the cluster's CA (<dir>/pki/ca.crt), which the manager trusts through
// SSL_CERT_FILE.
const (
	giteaOrg  = "acme"
	giteaRepo = "web"
	giteaDev  = "dev"
	giteaBot  = "baton"
)

func (c *cluster) giteaDir() string { return filepath.Join(c.dir, "gitea") }
func (c *cluster) giteaURL() string { return "https://" + procs.Ports(c.portBase).Addr(procs.Gitea) }
func (c *cluster) giteaFile(name string) string {
	return filepath.Join(c.giteaDir(), name)
}

// stagingHook is the URL of staging's push-hook receiver (the manager's
// --hooks-bind-address).
func (c *cluster) stagingHook() string {
	return fmt.Sprintf("http://%s/hooks/web/staging", procs.Ports(c.portBase).Addr(procs.Hooks))
}

// giteaInit installs Gitea's site under <dir>/gitea, once: its serving
// certificate, app.ini, the database and the administrator. Running it
// again keeps them.
func (c *cluster) giteaInit(bin string) error {
	if bin == "" {
		return errors.New("gitea-init needs --gitea (make gitea builds it)")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(bin), "options")); err != nil {
		return fmt.Errorf("--gitea %s: its directory has no options/ (make gitea copies it there): %w", bin, err)
	}
	if err := os.MkdirAll(c.giteaDir(), 0o700); err != nil {
		return err
	}
	crt, key := c.giteaFile("serving.crt"), c.giteaFile("serving.key")
	if !exists(crt) || !exists(key) {
		ca, caKey, err := c.pki().loadCA()
		if err != nil {
			return fmt.Errorf("the cluster's CA (run make dev-cluster first): %w", err)
		}
		if err := newServingCert(ca, caKey, "gitea", crt, key); err != nil {
			return err
		}
	}
	certPEM, err := os.ReadFile(crt)
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(key)
	if err != nil {
		return err
	}
	admin, err := secretFile(c.giteaFile("admin-password"), "Adm1n-")
	if err != nil {
		return err
	}
	log, err := os.OpenFile(c.giteaFile("install.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	site := giteatest.Site{Bin: bin, Dir: c.giteaDir(), Port: c.port(procs.Gitea)}
	if err := site.Install(certPEM, keyPEM, admin, log); err != nil {
		return fmt.Errorf("%w (see %s)", err, rel(c.giteaFile("install.log")))
	}
	fmt.Printf("  %-24s %s (%s)\n", "gitea site", rel(c.giteaDir()), c.giteaURL())
	return nil
}

// giteaClient acts as Gitea's administrator, trusting the cluster's CA.
func (c *cluster) giteaClient() (*giteatest.Gitea, error) {
	ca, err := os.ReadFile(c.pki().path("ca.crt"))
	if err != nil {
		return nil, err
	}
	admin, err := os.ReadFile(c.giteaFile("admin-password"))
	if err != nil {
		return nil, fmt.Errorf("no Gitea site under %s (run gitea-init first): %w", rel(c.giteaDir()), err)
	}
	return giteatest.Connect(c.giteaURL(), ca, string(admin), c.proc("gitea").LogFile()), nil
}

// giteaSeed waits for Gitea and makes, unless they exist: the organization
// acme with the private repository web (one commit on main), the users dev
// and baton with write access, Baton's access token, and the push webhook
// to staging's receiver. Running it again changes nothing.
func (c *cluster) giteaSeed() error {
	hooksURL := c.stagingHook()
	g, err := c.giteaClient()
	if err != nil {
		return err
	}
	if err := g.WaitReady(2 * time.Minute); err != nil {
		return err
	}
	found := func(path string) (bool, error) {
		err := g.AsAdmin(http.MethodGet, path, nil, nil)
		if err != nil && strings.Contains(err.Error(), "404 Not Found") {
			return false, nil
		}
		return err == nil, err
	}
	repo := giteaOrg + "/" + giteaRepo
	if ok, err := found("/orgs/" + giteaOrg); err != nil {
		return err
	} else if !ok {
		if err := g.AsAdmin(http.MethodPost, "/orgs", map[string]any{"username": giteaOrg, "visibility": "private"}, nil); err != nil {
			return err
		}
	}
	if ok, err := found("/repos/" + repo); err != nil {
		return err
	} else if !ok {
		if err := g.AsAdmin(http.MethodPost, "/orgs/"+giteaOrg+"/repos", map[string]any{
			"name": giteaRepo, "private": true, "auto_init": true, "default_branch": "main", "readme": "Default",
			"description": "The sample application of make dev. Every commit on main deploys to staging.",
		}, nil); err != nil {
			return err
		}
	}
	f := false
	for _, u := range []string{giteaDev, giteaBot} {
		password, err := secretFile(c.giteaFile(u+"-password"), "Pw-")
		if err != nil {
			return err
		}
		if ok, err := found("/users/" + u); err != nil {
			return err
		} else if !ok {
			if err := g.AsAdmin(http.MethodPost, "/admin/users", map[string]any{
				"username": u, "email": u + "@example.com", "password": password, "must_change_password": &f,
			}, nil); err != nil {
				return err
			}
		}
		if err := g.AsAdmin(http.MethodPut, "/repos/"+repo+"/collaborators/"+u, map[string]any{"permission": "write"}, nil); err != nil {
			return err
		}
	}
	if tokenFile := c.giteaFile(giteaBot + "-token"); !exists(tokenFile) {
		password, err := os.ReadFile(c.giteaFile(giteaBot + "-password"))
		if err != nil {
			return err
		}
		token, err := g.Token(giteaBot, string(password), "baton-"+randomSuffix(), "write:repository")
		if err != nil {
			return err
		}
		if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
			return err
		}
	}
	if _, err := c.giteaHook(g, hooksURL); err != nil {
		return err
	}
	fmt.Printf("  %-24s %s/%s.git (users %s and %s, push webhook to %s)\n", "application repository", c.giteaURL(), repo, giteaDev, giteaBot, hooksURL)
	return nil
}

type giteaHook struct {
	ID     int64             `json:"id"`
	Active bool              `json:"active"`
	Config map[string]string `json:"config"`
}

// giteaHook is the repository's push webhook to hooksURL, created (signed
// with the cluster's hook token) if it is missing.
func (c *cluster) giteaHook(g *giteatest.Gitea, hooksURL string) (giteaHook, error) {
	path := "/repos/" + giteaOrg + "/" + giteaRepo + "/hooks"
	var hooks []giteaHook
	if err := g.AsAdmin(http.MethodGet, path, nil, &hooks); err != nil {
		return giteaHook{}, err
	}
	for _, h := range hooks {
		if h.Config["url"] == hooksURL {
			return h, nil
		}
	}
	secret, err := os.ReadFile(c.hookToken())
	if err != nil {
		return giteaHook{}, fmt.Errorf("the hook token (cluster git-init writes it): %w", err)
	}
	var h giteaHook
	err = g.AsAdmin(http.MethodPost, path, map[string]any{
		"type": "gitea", "active": true, "events": []string{"push"}, "branch_filter": "main",
		"config": map[string]string{"url": hooksURL, "content_type": "json", "secret": string(secret)},
	}, &h)
	return h, err
}

// giteaSetHook turns the push webhook to staging's receiver on or off, for
// hack/dev/merge.sh --no-hook.
func (c *cluster) giteaSetHook(active bool) error {
	hooksURL := c.stagingHook()
	g, err := c.giteaClient()
	if err != nil {
		return err
	}
	h, err := c.giteaHook(g, hooksURL)
	if err != nil {
		return err
	}
	return g.AsAdmin(http.MethodPatch, fmt.Sprintf("/repos/%s/%s/hooks/%d", giteaOrg, giteaRepo, h.ID), map[string]any{"active": active}, nil)
}

// secretFile returns the secret in path, writing prefix plus random hex
// there first if it is missing.
func secretFile(path, prefix string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return string(b), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	s := prefix + randomSuffix()
	return s, os.WriteFile(path, []byte(s), 0o600)
}

func randomSuffix() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
