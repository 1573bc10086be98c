package gitdelivery

import (
	"fmt"
	"net/url"
	"strings"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/delivery"
)

// Commit trailers. Baton-Promotion-UID is how a commit is found again after
// a crash: it makes each Promotion's commit exactly once.
const (
	TrailerPromotion    = "Baton-Promotion"
	TrailerPromotionUID = "Baton-Promotion-UID"
	TrailerRevision     = "Baton-Revision"
	TrailerPromotedBy   = "Promoted-by"
	TrailerApprovedBy   = "Approved-by"
	TrailerRollbackOf   = "Baton-Rollback-Of"
	// TrailerOverrideBy names who started the Promotion past a freeze or
	// deploy window (spec.override, sealed by the webhook).
	TrailerOverrideBy = "Override-by"
)

// DefaultAuthorName and DefaultAuthorEmail sign Baton's commits unless
// delivery.git.author says otherwise.
const (
	DefaultAuthorName  = "Baton"
	DefaultAuthorEmail = "baton@baton.dev"
)

// author is the name and email of Baton's commits for an Environment.
func author(env *batonv1alpha1.Environment) (name, email string) {
	if a := env.Spec.Delivery.Git.Author; a != nil {
		return a.Name, a.Email
	}
	return DefaultAuthorName, DefaultAuthorEmail
}

// oneLine keeps a value on one line, so that free text cannot start a
// trailer of its own.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// commitMessage is the message of a Promotion's commit: a subject naming the
// environment and the image, a body with the old image and the reason, and
// trailers last. The trailers are the last paragraph, which is the only one
// findCommit reads, so a reason cannot forge them.
func commitMessage(req delivery.Request) string {
	env, promo := req.Environment, req.Promotion
	var b strings.Builder
	verb := "Promote"
	if promo.Spec.Rollback != nil {
		verb = "Roll back"
	}
	fmt.Fprintf(&b, "%s %s to %s\n\n", verb, env.Name, req.Image)
	previous := promo.Status.PreviousImage
	if previous == "" {
		previous = "(unknown)"
	}
	fmt.Fprintf(&b, "Environment: %s/%s\nImage: %s -> %s\n", env.Namespace, env.Name, previous, req.Image)
	if r := strings.TrimSpace(promo.Spec.Reason); r != "" {
		fmt.Fprintf(&b, "\nReason:\n%s\n", indent(r))
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "%s: %s/%s\n", TrailerPromotion, promo.Namespace, promo.Name)
	fmt.Fprintf(&b, "%s: %s\n", TrailerPromotionUID, promo.UID)
	fmt.Fprintf(&b, "%s: %d\n", TrailerRevision, promo.Status.Revision)
	if rb := promo.Spec.Rollback; rb != nil && rb.ToRevision != 0 {
		fmt.Fprintf(&b, "%s: %d\n", TrailerRollbackOf, rb.ToRevision)
	}
	if req.RequestedBy != "" {
		fmt.Fprintf(&b, "%s: %s\n", TrailerPromotedBy, oneLine(req.RequestedBy))
	}
	for _, a := range req.ApprovedBy {
		fmt.Fprintf(&b, "%s: %s\n", TrailerApprovedBy, oneLine(a))
	}
	if o := promo.Spec.OverriddenBy; o != nil && promo.Spec.Override != nil {
		fmt.Fprintf(&b, "%s: %s\n", TrailerOverrideBy, oneLine(o.Username))
	}
	return b.String()
}

// indent indents every line of free text, so that no line of it looks like
// a trailer ("Key: value" at the start of a line).
func indent(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r", ""), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n")
}

// trailers returns the key/value lines of the last paragraph of a commit
// message.
func trailers(message string) map[string][]string {
	paras := strings.Split(strings.TrimSpace(strings.ReplaceAll(message, "\r\n", "\n")), "\n\n")
	last := paras[len(paras)-1]
	out := map[string][]string{}
	for _, line := range strings.Split(last, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			continue
		}
		out[k] = append(out[k], strings.TrimSpace(v))
	}
	return out
}

// hasPromotionUID reports whether a commit message carries the trailer of
// the Promotion with this UID.
func hasPromotionUID(message, uid string) bool {
	for _, v := range trailers(message)[TrailerPromotionUID] {
		if v == uid {
			return true
		}
	}
	return false
}

// CommitURL is a web link to a commit when the repository URL is an https://
// URL of a GitHub- or GitLab-like forge ("<url without .git>/commit/<sha>"),
// and empty otherwise: SSH URLs and plain HTTP do not say where the web
// interface is.
func CommitURL(repoURL, sha string) string {
	if sha == "" {
		return ""
	}
	u, err := url.Parse(repoURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return ""
	}
	u.User = nil
	u.RawQuery, u.Fragment = "", ""
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), ".git")
	return u.String() + "/commit/" + sha
}
