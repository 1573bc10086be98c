package netpolicy

import (
	"net/http"
	"strings"
)

// Allows reports whether host matches one of the patterns: a host name or
// address, or ".example.com" for every host under example.com. Case and a
// trailing dot do not matter; ports are not compared.
func Allows(patterns []string, host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		switch {
		case p == "":
		case strings.HasPrefix(p, "."):
			if strings.HasSuffix(host, p) {
				return true
			}
		case p == host:
			return true
		}
	}
	return false
}

// SameHost reports whether an http.Client may follow a redirect to req:
// at most four redirects, each to the host of the first request, and never
// from https down to plain http. A server that may not move credentials or
// the allow-list elsewhere is held to it.
func SameHost(req *http.Request, via []*http.Request) bool {
	first := via[0].URL
	return len(via) < 5 && strings.EqualFold(req.URL.Host, first.Host) && (first.Scheme != "https" || req.URL.Scheme == "https")
}
