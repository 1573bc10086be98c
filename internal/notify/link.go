package notify

import (
	"fmt"
	"net/url"
	"strings"
)

// PromotionLink is the manager's --promotion-url: a Promotion's page in
// the team's console, with {namespace} and {name} in it, such as
// https://console.example.com/k8s/ns/{namespace}/promotion.baton.dev~v1alpha1~Promotion/{name}.
// The zero value links nothing.
type PromotionLink string

// ParsePromotionLink checks a --promotion-url: an absolute http(s) URL
// that names {name}, so that each Promotion gets a link of its own.
func ParsePromotionLink(template string) (PromotionLink, error) {
	if template == "" {
		return "", nil
	}
	if !strings.Contains(template, "{name}") {
		return "", fmt.Errorf("--promotion-url %q does not contain {name}: every Promotion would get the same link", template)
	}
	u, err := url.Parse(PromotionLink(template).For("namespace", "name"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("--promotion-url %q is not an absolute http(s) URL", template)
	}
	return PromotionLink(template), nil
}

// For is the link of Promotion namespace/name; "" without a template. Both
// names are path-escaped (Kubernetes names need none, but a template may
// put them in a query).
func (l PromotionLink) For(namespace, name string) string {
	if l == "" {
		return ""
	}
	return strings.NewReplacer("{namespace}", url.PathEscape(namespace), "{name}", url.PathEscape(name)).Replace(string(l))
}
