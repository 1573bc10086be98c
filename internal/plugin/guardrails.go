package plugin

import (
	"context"
	"fmt"
	"io"
	"time"

	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	batonpromote "github.com/baton-dev/baton/internal/promote"
	"github.com/baton-dev/baton/internal/window"
)

// guardrails is what status shows of windows and freezes; a list the user
// may not read is left out and said so.
type guardrails struct {
	batonpromote.Guardrails
	unreadable []string
}

func readGuardrails(ctx context.Context, c client.Client, ns string) guardrails {
	var g guardrails
	var windows batonv1alpha1.DeployWindowList
	if err := c.List(ctx, &windows, client.InNamespace(ns)); err != nil {
		g.unreadable = append(g.unreadable, "deploywindows")
	}
	g.Windows = windows.Items
	var freezes batonv1alpha1.FreezeList
	if err := c.List(ctx, &freezes, client.InNamespace(ns)); err != nil {
		g.unreadable = append(g.unreadable, "freezes")
	}
	for _, f := range freezes.Items {
		// The plugin cannot check seals: it shows frozenBy as stored.
		g.Freezes = append(g.Freezes, batonpromote.Freeze{Kind: "Freeze", Namespace: f.Namespace, Name: f.Name, Spec: f.Spec, Sealed: true})
	}
	var cluster batonv1alpha1.ClusterFreezeList
	if err := c.List(ctx, &cluster); err != nil {
		g.unreadable = append(g.unreadable, "clusterfreezes")
	}
	for _, f := range cluster.Items {
		g.Freezes = append(g.Freezes, batonpromote.Freeze{Kind: "ClusterFreeze", Name: f.Name, Spec: f.Spec, Sealed: true})
	}
	return g
}

// writeGuardrails prints whether a new Promotion may start in env now, then
// the freezes in force on it (who froze it, and why) and the windows it
// selects, each open or closed now, and until when.
func writeGuardrails(out io.Writer, g guardrails, env *batonv1alpha1.Environment, now time.Time) error {
	w := printers.GetNewTabWriter(out)
	fmt.Fprintln(w)
	starts := "yes"
	if h := batonpromote.HoldFor(&batonv1alpha1.Promotion{}, env, g.Guardrails, now); h != nil {
		starts = "no: " + h.Message
	}
	fmt.Fprintf(w, "New Promotions start:\t%s\n", starts)
	writePause(w, env)
	frozen := false
	for _, f := range g.Freezes {
		if f.Applies(env) {
			if !frozen {
				fmt.Fprintf(w, "Freezes:\n")
			}
			frozen = true
			since := ""
			if f.Spec.FrozenAt != nil {
				since = fmt.Sprintf(", %s ago", age(f.Spec.FrozenAt, now))
			}
			fmt.Fprintf(w, "  %s\tby %s%s: %s\n", f.Ref(), f.FrozenBy(), since, f.Spec.Reason)
		}
	}
	if !frozen {
		fmt.Fprintf(w, "Freezes:\tnone\n")
	}
	selected, missing := window.Select(env, g.Windows)
	switch {
	case env.Spec.DeployWindows == nil:
		fmt.Fprintf(w, "Deploy windows:\tnone selected\n")
	case missing != "":
		fmt.Fprintf(w, "Deploy windows:\t%s\n", missing)
	default:
		fmt.Fprintf(w, "Deploy windows:\n")
		for _, dw := range selected {
			fmt.Fprintf(w, "  %s\t%s, %s\n", dw.Name, dw.Spec.Type, windowState(dw, now))
		}
	}
	for _, r := range g.unreadable {
		fmt.Fprintf(w, "(you may not list %s here; the list above may be incomplete)\n", r)
	}
	return w.Flush()
}

// writePause prints the pause spec.pauseOnFailure set after a failure, or
// that there is none where the Environment pauses on failure.
func writePause(w io.Writer, env *batonv1alpha1.Environment) {
	pause := env.Status.AutoPromotePause
	switch {
	case pause != nil:
		fmt.Fprintf(w, "AutoPromote paused:\tsince %s, Promotion %s %s; resume with kubectl promote resume %s\n",
			pause.Since.UTC().Format(time.RFC3339), pause.Promotion.Name, pause.Result, env.Name)
	case env.Spec.PauseOnFailure:
		fmt.Fprintf(w, "AutoPromote paused:\tno (spec.pauseOnFailure pauses it after a failure)\n")
	}
}

func windowState(dw batonv1alpha1.DeployWindow, now time.Time) string {
	s, errs := window.Parse(dw.Spec)
	if len(errs) > 0 {
		return "invalid: " + errs.ToAggregate().Error()
	}
	span, open := s.At(now)
	switch {
	case open:
		return "open until " + s.Format(span.End)
	case span.Start.IsZero():
		return "closed, never opens again"
	}
	return "closed, opens at " + s.Format(span.Start)
}
