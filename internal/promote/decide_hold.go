package promote

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/identity"
	"github.com/baton-dev/baton/internal/window"
)

// Guardrails are what may hold a Promotion in time, as the reconciler read
// them: the DeployWindows of its namespace, and every Freeze of the
// namespace and ClusterFreeze.
type Guardrails struct {
	Windows []batonv1alpha1.DeployWindow
	Freezes []Freeze
}

// Freeze is a Freeze or ClusterFreeze, as read.
type Freeze struct {
	// Kind is Freeze or ClusterFreeze.
	Kind string
	// Namespace is empty for a ClusterFreeze.
	Namespace, Name string
	Spec            batonv1alpha1.FreezeSpec
	// Sealed: its admission seal verifies, so spec.frozenBy is trusted.
	Sealed bool
}

// Ref names the freeze for a person: "Freeze shop/incident-42".
func (f Freeze) Ref() string {
	if f.Namespace == "" {
		return f.Kind + " " + f.Name
	}
	return f.Kind + " " + f.Namespace + "/" + f.Name
}

// Applies reports whether the freeze, not lifted, covers the Environment.
func (f Freeze) Applies(env *batonv1alpha1.Environment) bool {
	if f.Spec.Lifted {
		return false
	}
	return f.Namespace == "" || (f.Namespace == env.Namespace && (f.Spec.Environment == "" || f.Spec.Environment == env.Name))
}

// FrozenBy is who froze it, or why that is not known.
func (f Freeze) FrozenBy() string {
	if !f.Sealed || f.Spec.FrozenBy == nil {
		return "an unverified user (the freeze was not sealed by Baton's admission webhook)"
	}
	return f.Spec.FrozenBy.Username
}

// Hold is why a Promotion may not start now.
type Hold struct {
	Reason, Message string
	// Until is when the hold ends by itself (a window boundary); zero when a
	// person must act (lift a freeze, fix spec.deployWindows).
	Until time.Time
}

// Overrides reports whether the Promotion carries a break-glass override the
// webhook stamped (and so authorized).
func Overrides(p *batonv1alpha1.Promotion) bool {
	return p.Spec.Override != nil && p.Spec.OverriddenBy != nil
}

// HoldFor is what holds a Promotion into env at now, override aside: a
// freeze, a pause after a failure (spec.pauseOnFailure, for the Promotions
// autoPromote and spec.source create), a spec.deployWindows that selects a window that is not there, an
// open deny window, or no open allow window. Rollbacks pass unless the
// Environment sets freeze.blockRollbacks. nil when it may start.
func HoldFor(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment, g Guardrails, now time.Time) *Hold {
	if IsRollback(p) && !env.Spec.Freeze.BlockRollbacks {
		return nil
	}
	if h := frozen(env, g.Freezes); h != nil {
		return h
	}
	if h := pausedHold(p, env); h != nil {
		return h
	}
	return windowHold(env, g.Windows, now)
}

func frozen(env *batonv1alpha1.Environment, freezes []Freeze) *Hold {
	for _, f := range freezes {
		if !f.Applies(env) {
			continue
		}
		return &Hold{Reason: batonv1alpha1.FrozenReason, Message: fmt.Sprintf(
			"frozen by %s (by %s): %s; %s. Lift it with kubectl promote unfreeze, or start this Promotion with spec.override%s",
			f.Ref(), f.FrozenBy(), f.Spec.Reason, rollbacksNote(env), overrideNeeds(env))}
	}
	return nil
}

func rollbacksNote(env *batonv1alpha1.Environment) string {
	if env.Spec.Freeze.BlockRollbacks {
		return "rollbacks wait too (freeze.blockRollbacks)"
	}
	return "rollbacks still run"
}

func overrideNeeds(env *batonv1alpha1.Environment) string {
	return fmt.Sprintf(" (override needs the verb %s on environments/%s)", identity.VerbOverride, env.Name)
}

// evaluated is one selected window, parsed and judged at now.
type evaluated struct {
	w     batonv1alpha1.DeployWindow
	s     *window.Schedule
	span  window.Span
	open  bool
	valid bool
}

func windowHold(env *batonv1alpha1.Environment, windows []batonv1alpha1.DeployWindow, now time.Time) *Hold {
	sel := env.Spec.DeployWindows
	if sel == nil {
		return nil
	}
	selected, missing := window.Select(env, windows)
	if missing != "" {
		return &Hold{Reason: batonv1alpha1.WindowNotFoundReason, Message: missing + overrideNeeds(env)}
	}
	var allows []evaluated
	allowOpen := false
	for _, w := range selected {
		e := evaluate(w, now)
		if !e.valid {
			return &Hold{Reason: batonv1alpha1.WindowInvalidReason, Message: fmt.Sprintf(
				"DeployWindow %s cannot be evaluated; fix it (kubectl promote status shows why) or remove it from spec.deployWindows%s", w.Name, overrideNeeds(env))}
		}
		switch {
		case w.Spec.Type == batonv1alpha1.WindowDeny && e.open:
			return &Hold{Reason: batonv1alpha1.DeployWindowReason, Until: e.span.End, Message: fmt.Sprintf(
				"blocked by deny window %s until %s%s%s", w.Name, e.s.Format(e.span.End), because(w), overrideNeeds(env))}
		case w.Spec.Type == batonv1alpha1.WindowAllow:
			allowOpen = allowOpen || e.open
			allows = append(allows, e)
		}
	}
	if len(allows) == 0 || allowOpen {
		return nil
	}
	return outsideAllows(env, allows)
}

// outsideAllows holds until the first allow window opens.
func outsideAllows(env *batonv1alpha1.Environment, allows []evaluated) *Hold {
	names := make([]string, 0, len(allows))
	var next *evaluated
	for i, e := range allows {
		names = append(names, e.w.Name)
		if !e.span.Start.IsZero() && (next == nil || e.span.Start.Before(next.span.Start)) {
			next = &allows[i]
		}
	}
	h := &Hold{Reason: batonv1alpha1.DeployWindowReason}
	if next == nil {
		h.Message = fmt.Sprintf("outside every allow window (%s), and none opens again%s", strings.Join(names, ", "), overrideNeeds(env))
		return h
	}
	h.Until = next.span.Start
	h.Message = fmt.Sprintf("outside every allow window (%s) until allow window %s opens at %s%s",
		strings.Join(names, ", "), next.w.Name, next.s.Format(next.span.Start), overrideNeeds(env))
	return h
}

func because(w batonv1alpha1.DeployWindow) string {
	if w.Spec.Reason == "" {
		return ""
	}
	return ": " + w.Spec.Reason
}

func evaluate(w batonv1alpha1.DeployWindow, now time.Time) evaluated {
	s, errs := window.Parse(w.Spec)
	if len(errs) > 0 {
		return evaluated{w: w}
	}
	span, open := s.At(now)
	return evaluated{w: w, s: s, span: span, open: open, valid: true}
}

// held is what holds this decider's view of promo now; nil when it may
// start, an override included.
func (x *decider) held(promo *batonv1alpha1.Promotion) *Hold {
	if Overrides(promo) {
		return nil
	}
	return HoldFor(promo, x.env, x.in.Guardrails, x.in.Now)
}

// wait keeps the Promotion Queued with why, and looks again at the
// boundary, not before.
func (x *decider) wait(h *Hold) {
	x.setPhase(batonv1alpha1.PromotionQueued, h.Reason, h.Message)
	if !h.Until.IsZero() {
		x.d.RequeueAfter = max(h.Until.Sub(x.in.Now), time.Millisecond)
	}
}

// overridden announces a break-glass start, with what it set aside.
func (x *decider) overridden(p *batonv1alpha1.Promotion) {
	if !Overrides(p) {
		return
	}
	passed := "nothing held it"
	if h := HoldFor(p, x.env, x.in.Guardrails, x.in.Now); h != nil {
		passed = "it set aside: " + h.Message
	}
	x.event(corev1.EventTypeWarning, batonv1alpha1.OverriddenReason, "Override",
		"Break-glass override by %s for Promotion %s into %s: %s (%s)", p.Spec.OverriddenBy.Username, p.Name, x.env.Name, p.Spec.Override.Reason, passed)
}
