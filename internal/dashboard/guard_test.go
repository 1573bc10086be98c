package dashboard

import (
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/go-logr/logr"
)

const testPort = 17990

func testGuard() *guard { return &guard{port: testPort, token: "session-token", csrf: "csrf-token"} }

// request is a request as the dashboard's own page would send it; mutate
// spoils one thing.
func request(method, target string, mutate func(*http.Request)) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(`{}`))
	r.Host = "127.0.0.1:17990"
	r.AddCookie(&http.Cookie{Name: "baton-dashboard-17990", Value: "session-token"})
	if method == http.MethodPost {
		r.Header.Set("Origin", "http://127.0.0.1:17990")
		r.Header.Set("X-CSRF-Token", "csrf-token")
		r.Header.Set("Content-Type", "application/json")
	}
	if mutate != nil {
		mutate(r)
	}
	return r
}

func withoutCookie(r *http.Request) { r.Header.Del("Cookie") }

func TestGuardCheck(t *testing.T) {
	cases := []struct {
		name   string
		req    *http.Request
		status int    // 0: allowed
		says   string // part of the refusal
	}{
		{"the page's own state request", request("GET", "/api/state", nil), 0, ""},
		{"localhost is the same dashboard", request("GET", "/api/state", func(r *http.Request) { r.Host = "localhost:17990" }), 0, ""},
		{"the page's own action", request("POST", "/api/promote", nil), 0, ""},
		{"the printed URL, without a cookie yet", request("GET", "/?token=session-token", withoutCookie), 0, ""},
		{"same-origin fetch metadata", request("POST", "/api/approve", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "same-origin") }), 0, ""},

		{"no token at all", request("GET", "/", withoutCookie), http.StatusUnauthorized, "no valid session token"},
		{"a wrong cookie", request("GET", "/api/state", func(r *http.Request) {
			r.Header.Del("Cookie")
			r.AddCookie(&http.Cookie{Name: "baton-dashboard-17990", Value: "guess"})
		}), http.StatusUnauthorized, "no valid session token"},
		{"another dashboard's cookie", request("GET", "/api/state", func(r *http.Request) {
			r.Header.Del("Cookie")
			r.AddCookie(&http.Cookie{Name: "baton-dashboard-17991", Value: "session-token"})
		}), http.StatusUnauthorized, "no valid session token"},
		{"a wrong token in the URL", request("GET", "/?token=guess", withoutCookie), http.StatusUnauthorized, "no valid session token"},
		{"the token in the URL of the API", request("GET", "/api/state?token=session-token", withoutCookie), http.StatusUnauthorized, "no valid session token"},
		{"the token in the URL of an action", request("POST", "/api/promote?token=session-token", withoutCookie), http.StatusUnauthorized, "no valid session token"},
		{"a rebinding name for 127.0.0.1", request("GET", "/api/state", func(r *http.Request) { r.Host = "attacker.example:17990" }), http.StatusMisdirectedRequest, `Host "attacker.example:17990"`},
		{"another port", request("GET", "/api/state", func(r *http.Request) { r.Host = "127.0.0.1:80" }), http.StatusMisdirectedRequest, "is not this dashboard"},
		{"no port", request("GET", "/api/state", func(r *http.Request) { r.Host = "127.0.0.1" }), http.StatusMisdirectedRequest, "is not this dashboard"},
		{"a foreign Origin", request("POST", "/api/promote", func(r *http.Request) { r.Header.Set("Origin", "http://attacker.example") }), http.StatusForbidden, `Origin "http://attacker.example"`},
		{"a foreign Origin on a read", request("GET", "/api/state", func(r *http.Request) { r.Header.Set("Origin", "http://attacker.example") }), http.StatusForbidden, "Origin"},
		{"an Origin with another port", request("POST", "/api/promote", func(r *http.Request) { r.Header.Set("Origin", "http://127.0.0.1:17991") }), http.StatusForbidden, "Origin"},
		{"an https Origin", request("POST", "/api/promote", func(r *http.Request) { r.Header.Set("Origin", "https://127.0.0.1:17990") }), http.StatusForbidden, "Origin"},
		{"the null Origin of a sandboxed page", request("POST", "/api/promote", func(r *http.Request) { r.Header.Set("Origin", "null") }), http.StatusForbidden, "Origin"},
		{"a cross-site request", request("GET", "/api/state", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }), http.StatusForbidden, "Sec-Fetch-Site"},
		{"an action without Origin", request("POST", "/api/promote", func(r *http.Request) { r.Header.Del("Origin") }), http.StatusForbidden, "Origin header"},
		{"an action without the CSRF token", request("POST", "/api/approve", func(r *http.Request) { r.Header.Del("X-CSRF-Token") }), http.StatusForbidden, "X-CSRF-Token"},
		{"an action with a wrong CSRF token", request("POST", "/api/cancel", func(r *http.Request) { r.Header.Set("X-CSRF-Token", "session-token") }), http.StatusForbidden, "X-CSRF-Token"},
		{"an action as a form post", request("POST", "/api/promote", func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") }), http.StatusUnsupportedMediaType, "application/json"},
		{"an action as text/plain", request("POST", "/api/promote", func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }), http.StatusUnsupportedMediaType, "application/json"},
	}
	g := testGuard()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			action := tc.req.Method == http.MethodPost
			got := g.check(tc.req, action)
			if tc.status == 0 {
				if got != nil {
					t.Fatalf("refused with %d %q, want allowed", got.status, got.msg)
				}
				return
			}
			if got == nil {
				t.Fatalf("allowed, want %d", tc.status)
			}
			if got.status != tc.status || !strings.Contains(got.msg, tc.says) {
				t.Fatalf("refused with %d %q, want %d containing %q", got.status, got.msg, tc.status, tc.says)
			}
		})
	}
}

func TestTokenIsRandomAndLong(t *testing.T) {
	a, err := newGuard(testPort)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newGuard(testPort)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.token) != 64 || a.token == b.token || a.token == a.csrf {
		t.Fatalf("tokens %q, %q, csrf %q: want 32 random bytes each, all different", a.token, b.token, a.csrf)
	}
	if a.URL() != "http://127.0.0.1:17990/?token="+a.token {
		t.Fatalf("URL %q", a.URL())
	}
}

// handler is a dashboard with no cluster behind it: enough for what the
// guard refuses and for the page's own files.
func handler(t *testing.T) (*Server, http.Handler) {
	t.Helper()
	s, err := NewServer(nil, "web", testPort, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	s.guard = testGuard()
	return s, s.Handler()
}

func TestTheURLTokenBecomesAStrictCookie(t *testing.T) {
	_, h := handler(t)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, request("GET", "/?token=session-token", withoutCookie))
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" {
		t.Fatalf("got %d to %q, want a redirect to / that drops the token from the address bar", w.Code, w.Header().Get("Location"))
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v, want one", cookies)
	}
	c := cookies[0]
	if c.Name != "baton-dashboard-17990" || c.Value != "session-token" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Fatalf("cookie %+v, want baton-dashboard-17990=token, HttpOnly, SameSite=Strict, Path=/", c)
	}

	// The cookie alone then opens the page.
	w = httptest.NewRecorder()
	h.ServeHTTP(w, request("GET", "/", nil))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `<script src="/app.js" defer></script>`) {
		t.Fatalf("got %d %q", w.Code, w.Body.String())
	}
}

func TestEveryAnswerCarriesAStrictPolicy(t *testing.T) {
	_, h := handler(t)
	for _, r := range []*http.Request{
		request("GET", "/", nil),
		request("GET", "/app.js", nil),
		request("GET", "/style.css", nil),
		request("GET", "/api/state", withoutCookie),
		request("POST", "/api/promote", func(r *http.Request) { r.Host = "attacker.example:17990" }),
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		csp := w.Header().Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s %s: CSP %q lacks %q", r.Method, r.URL, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s %s: CSP %q allows inline script", r.Method, r.URL, csp)
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s %s: headers %v", r.Method, r.URL, w.Header())
		}
	}
}

func TestRefusedRequestsNeverReachTheCluster(t *testing.T) {
	// The Server has no client: a request that got past the guard would
	// panic on it.
	_, h := handler(t)
	for _, r := range []*http.Request{
		request("GET", "/api/state", withoutCookie),
		request("GET", "/api/events", func(r *http.Request) { r.Host = "rebound.example:17990" }),
		request("POST", "/api/promote", func(r *http.Request) { r.Header.Del("X-CSRF-Token") }),
		request("POST", "/api/undo", func(r *http.Request) { r.Header.Set("Origin", "http://attacker.example") }),
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code < 400 {
			t.Errorf("%s %s: %d, want a refusal", r.Method, r.URL, w.Code)
		}
		if strings.Contains(w.Body.String(), "session-token") || strings.Contains(w.Body.String(), "csrf-token") {
			t.Errorf("%s %s: the refusal %q gives a token away", r.Method, r.URL, w.Body.String())
		}
	}
}

// TestThePageNeverParsesClusterTextAsMarkup reads the page's script: it may
// build the DOM only from elements and text nodes.
func TestThePageNeverParsesClusterTextAsMarkup(t *testing.T) {
	for _, name := range []string{"web/app.js", "web/index.html"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setTimeout(\"", "srcdoc", "javascript:"} {
			if strings.Contains(string(data), sink) {
				t.Errorf("%s uses %s, which parses text as markup or code", name, sink)
			}
		}
	}
	html, _ := os.ReadFile("web/index.html")
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]+</script>|\son\w+=|style=`).Match(html) {
		t.Errorf("index.html has inline script, an event handler attribute or an inline style, which the CSP refuses")
	}
}
