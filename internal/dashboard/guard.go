package dashboard

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

// contentSecurityPolicy lets the page load only its own files and talk only
// to this server: no inline script, no eval, no other origin, no framing.
// Cluster text is untrusted (image names, reasons, commit subjects); even if
// some slipped into the DOM as markup, it could not run.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// guard is what every request must pass before a handler sees it: the
// request is for this dashboard (Host, against DNS rebinding), comes from
// its own page (Origin, Sec-Fetch-Site), and carries the session token, in
// the cookie or, once, in the URL the command printed. Actions must also
// carry the CSRF token in a header.
type guard struct {
	port  int
	token string // the session token: in the printed URL, then in the cookie
	csrf  string // sent to the page in its state, echoed back on every action
}

func newGuard(port int) (*guard, error) {
	token, err := randomToken()
	if err != nil {
		return nil, err
	}
	csrf, err := randomToken()
	if err != nil {
		return nil, err
	}
	return &guard{port: port, token: token, csrf: csrf}, nil
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make a random token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// cookieName carries the port: cookies are per host, not per port, so two
// dashboards on one machine (two users, two kubeconfigs) must not share one.
func (g *guard) cookieName() string { return "baton-dashboard-" + strconv.Itoa(g.port) }

// hosts are the names under which the browser may reach this server. Any
// other Host header means a name that resolves to 127.0.0.1 from a foreign
// site (DNS rebinding), or a request meant for something else.
func (g *guard) hosts() []string {
	p := strconv.Itoa(g.port)
	return []string{"127.0.0.1:" + p, "localhost:" + p}
}

// URL is the address the command opens: the token travels once in it and
// the server trades it for the cookie.
func (g *guard) URL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/?token=%s", g.port, g.token)
}

// refusal is why a request is refused, and with which status.
type refusal struct {
	status int
	msg    string
}

// check decides whether r may go on. It is pure, so every case has a test.
// action says whether r changes something in the cluster.
func (g *guard) check(r *http.Request, action bool) *refusal {
	if !slices.Contains(g.hosts(), r.Host) {
		return &refusal{http.StatusMisdirectedRequest, fmt.Sprintf("Host %q is not this dashboard; open %s", r.Host, "http://"+g.hosts()[0]+"/")}
	}
	origin := r.Header.Get("Origin")
	if origin != "" && !g.sameOrigin(origin) {
		return &refusal{http.StatusForbidden, fmt.Sprintf("Origin %q is not this dashboard: requests from other pages are refused", origin)}
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return &refusal{http.StatusForbidden, fmt.Sprintf("Sec-Fetch-Site %q: requests from other pages are refused", site)}
	}
	if !g.authenticated(r) {
		return &refusal{http.StatusUnauthorized, "no valid session token: open the URL that `kubectl promote dashboard` printed"}
	}
	if !action {
		return nil
	}
	if origin == "" {
		return &refusal{http.StatusForbidden, "an action must carry the Origin header of this dashboard's page"}
	}
	if !equal(r.Header.Get("X-CSRF-Token"), g.csrf) {
		return &refusal{http.StatusForbidden, "missing or wrong X-CSRF-Token header: reload the page"}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &refusal{http.StatusUnsupportedMediaType, "an action's body must be application/json"}
	}
	return nil
}

func (g *guard) sameOrigin(origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Scheme == "http" && u.Path == "" && slices.Contains(g.hosts(), u.Host)
}

// authenticated accepts the cookie, or the token in the URL of a plain page
// load (which the handler then trades for the cookie).
func (g *guard) authenticated(r *http.Request) bool {
	if c, err := r.Cookie(g.cookieName()); err == nil && equal(c.Value, g.token) {
		return true
	}
	return r.Method == http.MethodGet && r.URL.Path == "/" && equal(r.URL.Query().Get("token"), g.token)
}

// equal compares secrets in constant time.
func equal(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// session is the cookie that replaces the token in the URL: HttpOnly, so
// the page's script never sees it, and SameSite=Strict, so no other site's
// page can make the browser send it.
func (g *guard) session() *http.Cookie {
	return &http.Cookie{
		Name:     g.cookieName(),
		Value:    g.token,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	}
}

// secureHeaders are sent with every answer, refusals included.
func secureHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}
