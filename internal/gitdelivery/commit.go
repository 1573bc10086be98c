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
	// TrailerEnvironment and TrailerFile name, in a group commit's block
	// or in the commit of a Promotion that edits several files, the
	// Environment and each file the block's signature covers.
	TrailerEnvironment = "Baton-Environment"
	TrailerFile        = "Baton-File"
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
// the trailer index reads, so a reason cannot forge them.
func commitMessage(req delivery.Request) string {
	env, promo := req.Environment, req.Promotion
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s to %s\n\n", verb(promo), env.Name, req.Image)
	fmt.Fprintf(&b, "Environment: %s/%s\nImage: %s -> %s\n", env.Namespace, env.Name, previousImage(promo), req.Image)
	if r := strings.TrimSpace(promo.Spec.Reason); r != "" {
		fmt.Fprintf(&b, "\nReason:\n%s\n", indent(r))
	}
	b.WriteString("\n")
	b.WriteString(trailerBlock(req))
	return b.String()
}

func verb(promo *batonv1alpha1.Promotion) string {
	if promo.Spec.Rollback != nil {
		return "Roll back"
	}
	return "Promote"
}

func previousImage(promo *batonv1alpha1.Promotion) string {
	if promo.Status.PreviousImage == "" {
		return "(unknown)"
	}
	return promo.Status.PreviousImage
}

// trailerBlock is a Promotion's trailers, Baton-Promotion first: in a
// group commit, each Promotion's block starts at its Baton-Promotion line.
func trailerBlock(req delivery.Request) string {
	promo := req.Promotion
	var b strings.Builder
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

// groupMessage is the message of a group commit: a subject counting the
// environments, one line per environment (with its reason, indented), and
// one trailer block per Promotion. Each block names its Environment and
// its files and carries its own signature, so that every block can be
// checked on its own and every changed file is accounted for.
func groupMessage(parts []groupPart) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Promote %d environments\n\n", len(parts))
	for _, p := range parts {
		env, promo := p.req.Environment, p.req.Promotion
		fmt.Fprintf(&b, "%s %s/%s: %s -> %s\n", verb(promo), env.Namespace, env.Name, previousImage(promo), p.req.Image)
		if r := strings.TrimSpace(promo.Spec.Reason); r != "" {
			fmt.Fprintf(&b, "%s\n", indent(r))
		}
	}
	b.WriteString("\n")
	for _, p := range parts {
		b.WriteString(trailerBlock(p.req))
		b.WriteString(fileTrailers(p.req.Environment, p.files))
		fmt.Fprintf(&b, "%s: %s\n", TrailerSignature, p.signature)
	}
	return b.String()
}

// fileTrailers name the Environment and each file a block signs.
func fileTrailers(env *batonv1alpha1.Environment, files []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s/%s\n", TrailerEnvironment, env.Namespace, env.Name)
	for _, f := range files {
		fmt.Fprintf(&b, "%s: %s\n", TrailerFile, f)
	}
	return b.String()
}

// groupPart is one Promotion's share of a group commit.
type groupPart struct {
	req       delivery.Request
	files     []string
	signature string
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
	out := map[string][]string{}
	for _, block := range trailerBlocks(message) {
		for k, vs := range block {
			out[k] = append(out[k], vs...)
		}
	}
	return out
}

// trailerBlocks splits the last paragraph of a commit message into blocks
// of key/value lines, a new one at each Baton-Promotion line: one block per
// Promotion of a group commit.
func trailerBlocks(message string) []map[string][]string {
	paras := strings.Split(strings.TrimSpace(strings.ReplaceAll(message, "\r\n", "\n")), "\n\n")
	last := paras[len(paras)-1]
	var blocks []map[string][]string
	for _, line := range strings.Split(last, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			continue
		}
		if len(blocks) == 0 || k == TrailerPromotion {
			blocks = append(blocks, map[string][]string{})
		}
		cur := blocks[len(blocks)-1]
		cur[k] = append(cur[k], strings.TrimSpace(v))
	}
	return blocks
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
