package dashboard

import (
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/identity"
	"github.com/baton-dev/baton/internal/plugin"
)

// How much of each list the page shows.
const (
	recentPromotions = 5
	recentEvents     = 8
)

// State is what the page shows: everything is plain text that the page puts
// in the DOM with textContent, never as markup.
type State struct {
	Namespace    string        `json:"namespace"`
	User         string        `json:"user"`
	CSRF         string        `json:"csrf"`
	Environments []Environment `json:"environments"`
	// Notes say what could not be read, such as Events the user may not list.
	Notes []string `json:"notes,omitempty"`
}

// Environment is one stage of the pipeline.
type Environment struct {
	Name      string `json:"name"`
	Upstream  string `json:"upstream,omitempty"`
	Depth     int    `json:"depth"` // 0 for an entry environment, 1 for what follows it, ...
	Image     string `json:"image,omitempty"`
	Revision  int64  `json:"revision,omitempty"`
	Since     string `json:"since,omitempty"`
	Workload  string `json:"workload"`
	Approvals string `json:"approvals"`
	Suspended bool   `json:"suspended,omitempty"`
	// Conditions are Ready, Verified, Held, Drifted, ...: checks, holds and
	// freezes show here as the conditions the engine writes for them.
	Conditions []Condition `json:"conditions"`
	Verified   []Verified  `json:"verified"`
	Rejected   []string    `json:"rejected,omitempty"`
	Active     *Promotion  `json:"active,omitempty"`
	Queued     []Promotion `json:"queued"`
	Recent     []Promotion `json:"recent"`
	History    []Revision  `json:"history"`
	Events     []Event     `json:"events"`
	Can        Permissions `json:"can"`
}

// Condition is a status condition in words.
type Condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
}

// Verified is an image the Environment verified, newest first.
type Verified struct {
	Image      string `json:"image"`
	VerifiedAt string `json:"verifiedAt,omitempty"`
}

// Promotion is one Promotion into an Environment.
type Promotion struct {
	Name        string   `json:"name"`
	Phase       string   `json:"phase"`
	Target      string   `json:"target"`
	Reason      string   `json:"reason,omitempty"`
	RequestedBy string   `json:"requestedBy"`
	ApprovedBy  []string `json:"approvedBy,omitempty"`
	CanceledBy  string   `json:"canceledBy,omitempty"`
	Rollback    bool     `json:"rollback,omitempty"`
	// Why is its Ready condition's message, or what it waits for.
	Why string `json:"why"`
	// Approvable and Cancelable say whether the action makes sense in this
	// phase; Permissions say whether the user may take it.
	Approvable bool   `json:"approvable,omitempty"`
	Cancelable bool   `json:"cancelable,omitempty"`
	Created    string `json:"created"`
}

// Revision is one entry of the history, as `kubectl promote history` shows it.
type Revision struct {
	Revision    int64    `json:"revision"`
	Image       string   `json:"image"`
	Result      string   `json:"result"`
	RequestedBy string   `json:"requestedBy,omitempty"`
	ApprovedBy  []string `json:"approvedBy,omitempty"`
	Commit      string   `json:"commit,omitempty"`
	Rollback    bool     `json:"rollback,omitempty"`
	Started     string   `json:"started,omitempty"`
	Current     bool     `json:"current,omitempty"`
}

// Event is one Event about the Environment or one of its Promotions.
type Event struct {
	Type    string `json:"type"`
	Reason  string `json:"reason"`
	Object  string `json:"object"`
	Message string `json:"message"`
	Time    string `json:"time"`
}

// Permissions say which buttons the user's RBAC allows, from
// SelfSubjectAccessReviews.
type Permissions struct {
	Promote bool `json:"promote"`
	Approve bool `json:"approve"`
	Cancel  bool `json:"cancel"`
	// CancelRollback is Cancel for a rollback Promotion, which needs the
	// rollback verb instead of promote.
	CancelRollback bool `json:"cancelRollback"`
	Rollback       bool `json:"rollback"`
}

// snapshot is what the server read from the cluster.
type snapshot struct {
	namespace    string
	user         string
	environments []batonv1alpha1.Environment
	promotions   []batonv1alpha1.Promotion
	events       []corev1.Event
	permissions  map[string]Permissions
	notes        []string
}

// buildState turns what was read into what the page shows. It is pure.
func buildState(s snapshot) State {
	envs := slices.Clone(s.environments)
	depth := depths(envs)
	sort.SliceStable(envs, func(i, j int) bool {
		if depth[envs[i].Name] != depth[envs[j].Name] {
			return depth[envs[i].Name] < depth[envs[j].Name]
		}
		return envs[i].Name < envs[j].Name
	})
	promoEnv := map[string]string{}
	for _, p := range s.promotions {
		promoEnv[p.Name] = p.Spec.Environment
	}
	out := State{Namespace: s.namespace, User: s.user, Notes: s.notes, Environments: []Environment{}}
	for i := range envs {
		env := &envs[i]
		view := environmentView(env, depth[env.Name])
		view.Can = s.permissions[env.Name]
		addPromotions(&view, env, s.promotions)
		view.Events = eventsOf(env.Name, s.events, promoEnv)
		out.Environments = append(out.Environments, view)
	}
	return out
}

// depths places each Environment in the pipeline by following upstream; a
// missing upstream or a cycle stops the walk.
func depths(envs []batonv1alpha1.Environment) map[string]int {
	upstream := map[string]string{}
	for _, e := range envs {
		upstream[e.Name] = e.Spec.Upstream
	}
	out := map[string]int{}
	for _, e := range envs {
		d, seen := 0, map[string]bool{e.Name: true}
		for up := upstream[e.Name]; up != "" && !seen[up]; up = upstream[up] {
			if _, ok := upstream[up]; !ok {
				break
			}
			seen[up] = true
			d++
		}
		out[e.Name] = d
	}
	return out
}

func environmentView(env *batonv1alpha1.Environment, depth int) Environment {
	v := Environment{
		Name:       env.Name,
		Upstream:   env.Spec.Upstream,
		Depth:      depth,
		Workload:   workloadsOf(env),
		Approvals:  plugin.ApprovalPolicy(env),
		Suspended:  env.Spec.Suspend,
		Conditions: conditions(env.Status.Conditions),
		Verified:   []Verified{},
		Queued:     []Promotion{},
		Recent:     []Promotion{},
		History:    []Revision{},
	}
	if cur := env.Status.Current; cur != nil {
		v.Image, v.Revision, v.Since = cur.Image, cur.Revision, stamp(cur.Since)
	}
	for i := len(env.Status.VerifiedImages) - 1; i >= 0; i-- {
		vi := env.Status.VerifiedImages[i]
		v.Verified = append(v.Verified, Verified{Image: vi.Image, VerifiedAt: stamp(&vi.VerifiedAt)})
	}
	for _, r := range env.Status.RejectedImages {
		v.Rejected = append(v.Rejected, r.Image)
	}
	for i := len(env.Status.History) - 1; i >= 0; i-- {
		r := env.Status.History[i]
		result := string(r.Result)
		if result == "" {
			result = "InProgress"
		}
		v.History = append(v.History, Revision{
			Revision: r.Revision, Image: r.Image, Result: result, RequestedBy: r.RequestedBy, ApprovedBy: r.ApprovedBy,
			Commit: r.Commit, Rollback: r.Rollback, Started: stamp(r.StartedAt),
			Current: env.Status.Current != nil && env.Status.Current.Revision == r.Revision,
		})
	}
	return v
}

// addPromotions sorts env's Promotions into the one holding the lease, the
// queue behind it (in the engine's order) and the recent finished ones.
func addPromotions(v *Environment, env *batonv1alpha1.Environment, all []batonv1alpha1.Promotion) {
	var mine []batonv1alpha1.Promotion
	for _, p := range all {
		if p.Spec.Environment == env.Name {
			mine = append(mine, p)
		}
	}
	plugin.SortQueue(mine)
	var done []batonv1alpha1.Promotion
	for i := range mine {
		p := &mine[i]
		switch {
		case p.Status.Phase.IsTerminal():
			done = append(done, *p)
		case plugin.HoldsLease(env, p) && v.Active == nil:
			pv := promotionView(p, env)
			v.Active = &pv
		default:
			v.Queued = append(v.Queued, promotionView(p, env))
		}
	}
	sort.SliceStable(done, func(i, j int) bool { return done[j].CreationTimestamp.Before(&done[i].CreationTimestamp) })
	for i := range done[:min(len(done), recentPromotions)] {
		v.Recent = append(v.Recent, promotionView(&done[i], env))
	}
}

func promotionView(p *batonv1alpha1.Promotion, env *batonv1alpha1.Environment) Promotion {
	v := Promotion{
		Name:        p.Name,
		Phase:       plugin.PhaseOf(p),
		Target:      plugin.TargetOf(p),
		Reason:      p.Spec.Reason,
		RequestedBy: "-",
		Rollback:    p.Spec.Rollback != nil,
		Why:         plugin.WaitingFor(p, env),
		Created:     stamp(&p.CreationTimestamp),
	}
	if p.Spec.RequestedBy != nil {
		v.RequestedBy = p.Spec.RequestedBy.Username
	}
	for _, a := range p.Spec.Approvals {
		v.ApprovedBy = append(v.ApprovedBy, a.Username)
	}
	if p.Spec.CanceledBy != nil {
		v.CanceledBy = p.Spec.CanceledBy.Username
	}
	if p.Status.Phase == batonv1alpha1.PromotionWaitingForApproval {
		ok, _, _, _ := identity.ApprovalState(env, p)
		v.Approvable = !ok
	}
	v.Cancelable = !p.Status.Phase.IsTerminal() && !p.Spec.Cancel && !plugin.CancelTooLate(p)
	return v
}

// eventsOf keeps the newest Events about Environment env or its Promotions.
func eventsOf(env string, events []corev1.Event, promoEnv map[string]string) []Event {
	var mine []corev1.Event
	for _, e := range events {
		o := e.InvolvedObject
		if (o.Kind == "Environment" && o.Name == env) || (o.Kind == "Promotion" && promoEnv[o.Name] == env) {
			mine = append(mine, e)
		}
	}
	sort.SliceStable(mine, func(i, j int) bool { return eventTime(&mine[j]).Before(eventTime(&mine[i])) })
	out := []Event{}
	for _, e := range mine[:min(len(mine), recentEvents)] {
		t := metav1.NewTime(eventTime(&e))
		out = append(out, Event{Type: e.Type, Reason: e.Reason, Object: e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name, Message: e.Message, Time: stamp(&t)})
	}
	return out
}

func eventTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func conditions(conds []metav1.Condition) []Condition {
	out := []Condition{}
	// Ready first: it is the one a person reads.
	if c := apimeta.FindStatusCondition(conds, batonv1alpha1.ReadyCondition); c != nil {
		out = append(out, Condition{c.Type, string(c.Status), c.Reason, c.Message})
	}
	for _, c := range conds {
		if c.Type != batonv1alpha1.ReadyCondition {
			out = append(out, Condition{c.Type, string(c.Status), c.Reason, c.Message})
		}
	}
	return out
}

// stamp is a time for the page, which shows it in the reader's time zone.
func stamp(t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// workloadsOf names the Environment's workloads as kubectl does
// (deployment/web), comma-separated when there are several.
func workloadsOf(env *batonv1alpha1.Environment) string {
	var names []string
	for _, ref := range env.WorkloadRefs() {
		names = append(names, strings.ToLower(string(ref.Kind))+"/"+ref.Name)
	}
	return strings.Join(names, ", ")
}
