package source

import (
	"fmt"
	"strings"
)

// maxReason is the length of a Promotion's spec.reason.
const maxReason = 1024

// PromotionName is the name of the Promotion for head of env's source: one
// name per commit, so that re-reconciles, restarts and a second replica all
// create the same one. Kubernetes names are at most 253 characters.
func PromotionName(env, head string) string {
	if len(env) > 230 {
		env = env[:230]
	}
	return strings.TrimRight(env, "-.") + "-src-" + short(head)
}

// Reason is the Promotion's spec.reason: the commit, its (unverified)
// subject, and the commits skipped since the last head, bounded.
func Reason(branch string, h History) string {
	var b strings.Builder
	fmt.Fprintf(&b, "New head of %s: %s %q (commit metadata from Git, unverified)", branch, short(h.Head.SHA), h.Head.Subject)
	if len(h.Skipped) > 0 {
		parts := make([]string, 0, len(h.Skipped))
		for _, c := range h.Skipped {
			parts = append(parts, fmt.Sprintf("%s %q", short(c.SHA), Sanitize(c.Subject, 60)))
		}
		fmt.Fprintf(&b, "; skipped %d earlier commit(s), only the newest head is deployed: %s", len(h.Skipped)+max(h.MoreSkipped, 0), strings.Join(parts, ", "))
		switch {
		case h.MoreSkipped > 0:
			fmt.Fprintf(&b, " and %d more", h.MoreSkipped)
		case h.MoreSkipped < 0:
			b.WriteString(" and more")
		}
	}
	s := b.String()
	if len(s) > maxReason {
		s = strings.ToValidUTF8(s[:maxReason-len("…")], "") + "…"
	}
	return s
}

// RewrittenMessage explains why a move of the branch is not deployed.
func RewrittenMessage(branch, last, head string, rewound bool) string {
	how := fmt.Sprintf("was rewritten: %s does not descend from %s", short(head), short(last))
	if rewound {
		how = fmt.Sprintf("moved back: %s is an ancestor of %s", short(head), short(last))
	}
	return fmt.Sprintf("Branch %s %s (a force-push). Baton deploys only forward moves, so it did not deploy %s; "+
		"the next commit pushed on top of it is deployed as usual, and a Promotion that names the image deploys it now. Last head: %s, new head: %s",
		branch, how, short(head), last, head)
}
