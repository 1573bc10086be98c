package controllers

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	batongit "github.com/baton-dev/baton/internal/git"
	"github.com/baton-dev/baton/internal/outcome"
	"github.com/baton-dev/baton/internal/source"
	"github.com/baton-dev/baton/internal/statuspatch"
)

const (
	// defaultSourceInterval is spec.source.git.interval when it is empty.
	defaultSourceInterval = time.Minute
	// lsRemoteTimeout and fetchTimeout bound the Git calls of one reconcile.
	lsRemoteTimeout = 30 * time.Second
	fetchTimeout    = 2 * time.Minute
)

// SourceReconciler makes an entry Environment with spec.source deploy each
// new head of its branch: it reads the head with ls-remote at every
// interval (or at once, when the webhook receiver annotates the
// Environment), and creates one signed Promotion per new head.
type SourceReconciler struct {
	client.Client
	// APIReader reads Secrets and checks, uncached, whether a Promotion
	// exists.
	APIReader client.Reader
	Recorder  events.EventRecorder
	// Admission signs the Promotions it creates.
	Admission Admission
	// Cache holds the branch histories, for commit subjects, authors and
	// ancestry.
	Cache *source.Cache
	// Clock stamps status.source.seenAt.
	Clock clock.PassiveClock
}

// SetupWithManager registers the reconciler. Only spec changes and
// annotation changes (the webhook's read request) trigger a read; status
// writes by the other controllers do not.
func (r *SourceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&batonv1alpha1.Environment{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Named("source").
		Complete(r)
}

// sourceEvent is an Event the reconcile emits once its status write
// succeeded.
type sourceEvent struct {
	related           *batonv1alpha1.Promotion
	typ, reason, note string
}

// Reconcile reads the branch head and, for a head that moved forward,
// creates its Promotion; status.source and the Source condition are written
// in one deferred, optimistically locked patch, and only then the Events.
func (r *SourceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	env := &batonv1alpha1.Environment{}
	if err := r.Get(ctx, req.NamespacedName, env); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	h := statuspatch.New(r.Client, env)
	var emit []sourceEvent
	// On a Conflict the retry finds the Promotion by name, and announces
	// what it still finds changed.
	defer h.Finish(ctx, env, &result, &retErr, func() {
		for _, e := range emit {
			r.event(ctx, env, e)
		}
	})

	if env.Spec.Source == nil || !env.DeletionTimestamp.IsZero() {
		apimeta.RemoveStatusCondition(&env.Status.Conditions, batonv1alpha1.SourceCondition)
		env.Status.Source = nil
		return ctrl.Result{}, nil
	}
	if env.Spec.Suspend {
		// New heads wait; the first read after spec.suspend is cleared
		// promotes the newest one, listing those it skips.
		return ctrl.Result{}, nil
	}
	if env.Status.Source == nil {
		env.Status.Source = &batonv1alpha1.SourceStatus{}
	}
	if v, ok := env.Annotations[batonv1alpha1.SourceRequestedAtAnnotation]; ok && len(v) <= 64 {
		env.Status.Source.LastHandledRequest = v
	}
	err := r.follow(ctx, env, &emit)
	if s, ok := outcome.AsStalled(err); ok {
		emit = append(emit, setSource(env, metav1.ConditionFalse, s.Reason, s.Message)...)
		if s.Reason == batonv1alpha1.InvalidImageTemplateReason {
			// Only a spec change can fix it, and that triggers a reconcile.
			return ctrl.Result{}, nil
		}
		// A Secret or the server may be fixed without a spec change.
		return ctrl.Result{RequeueAfter: interval(env)}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: interval(env)}, nil
}

// follow reads the head and acts on it, adding the Events to emit. An
// *outcome.Stalled is a problem a person must fix.
func (r *SourceReconciler) follow(ctx context.Context, env *batonv1alpha1.Environment, emit *[]sourceEvent) error {
	src := env.Spec.Source
	branch := branchOf(env)
	tmpl, err := source.ParseImageTemplate(src.Image)
	if err != nil {
		return err
	}
	creds, err := source.ReadCredentials(ctx, r.APIReader, env, filepath.Join(r.Cache.Dir, "known-hosts", env.Namespace, env.Name), r.Cache.Network)
	if err != nil {
		return err
	}
	lsCtx, cancel := context.WithTimeout(ctx, lsRemoteTimeout)
	defer cancel()
	head, err := source.LsRemote(lsCtx, src.Git.URL, branch, creds)
	if err != nil {
		return err
	}
	st := env.Status.Source
	if head == st.Commit {
		if c := apimeta.FindStatusCondition(env.Status.Conditions, batonv1alpha1.SourceCondition); c == nil || c.Reason != batonv1alpha1.ForcePushedReason {
			setTracking(env)
		}
		return nil
	}

	fetchCtx, cancelFetch := context.WithTimeout(ctx, fetchTimeout)
	defer cancelFetch()
	hist, err := r.Cache.Inspect(fetchCtx, src.Git.URL, branch, head, st.Commit, creds)
	if err != nil {
		return err
	}
	if !hist.Forward {
		msg := source.RewrittenMessage(branch, st.Commit, head, hist.Rewound)
		r.see(env, head)
		*emit = append(*emit, setSource(env, metav1.ConditionFalse, batonv1alpha1.ForcePushedReason, msg)...)
		return nil
	}
	image, err := tmpl.Render(source.NewCommit(head, branch))
	if err != nil {
		return err
	}
	promo, err := r.promote(ctx, env, branch, image, hist)
	if err != nil {
		return err
	}
	if st.Promotion != promo.Name {
		*emit = append(*emit, sourceEvent{related: promo, typ: corev1.EventTypeNormal, reason: batonv1alpha1.CommitPromotedReason,
			note: fmt.Sprintf("Created Promotion %s of %s for commit %s, the new head of %s", promo.Name, image, hist.Head.SHA, branch)})
	}
	r.see(env, head)
	st.Promotion = promo.Name
	setTracking(env)
	return nil
}

// promote creates the signed Promotion of head, unless it exists already.
func (r *SourceReconciler) promote(ctx context.Context, env *batonv1alpha1.Environment, branch, image string, hist source.History) (*batonv1alpha1.Promotion, error) {
	promo := &batonv1alpha1.Promotion{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: env.Namespace,
			Name:      source.PromotionName(env.Name, hist.Head.SHA),
			Annotations: map[string]string{
				batonv1alpha1.SourceCommitAnnotation:      hist.Head.SHA,
				batonv1alpha1.SourceSubjectAnnotation:     hist.Head.Subject,
				batonv1alpha1.SourceAuthorAnnotation:      hist.Head.Author,
				batonv1alpha1.SourceCommittedAtAnnotation: hist.Head.When.UTC().Format(time.RFC3339),
			},
		},
		Spec: batonv1alpha1.PromotionSpec{
			Environment: env.Name,
			Image:       image,
			Reason:      source.Reason(branch, hist),
			RequestedBy: &batonv1alpha1.UserInfo{Username: ControllerUser},
		},
	}
	found, _, err := createSigned(ctx, r.Client, r.APIReader, r.Admission, promo)
	if err != nil {
		return nil, fmt.Errorf("source Promotion: %w", err)
	}
	return found, nil
}

func (r *SourceReconciler) see(env *batonv1alpha1.Environment, head string) {
	now := metav1.NewTime(r.Clock.Now())
	env.Status.Source.Commit = head
	env.Status.Source.SeenAt = &now
}

func setTracking(env *batonv1alpha1.Environment) {
	st := env.Status.Source
	msg := fmt.Sprintf("Following branch %s of %s", branchOf(env), batongit.RedactURLs(env.Spec.Source.Git.URL))
	if st.Commit != "" {
		msg += "; head " + st.Commit
	}
	if st.Promotion != "" {
		msg += ", last promoted by Promotion " + st.Promotion
	}
	setSource(env, metav1.ConditionTrue, batonv1alpha1.TrackingReason, msg)
}

// setSource sets the Source condition. A False one that is new, or says
// something new, is also a Warning Event, returned for after the write.
func setSource(env *batonv1alpha1.Environment, status metav1.ConditionStatus, reason, msg string) []sourceEvent {
	// A copy: setCondition updates the condition in place.
	var prev metav1.Condition
	if c := apimeta.FindStatusCondition(env.Status.Conditions, batonv1alpha1.SourceCondition); c != nil {
		prev = *c
	}
	setCondition(env, batonv1alpha1.SourceCondition, status, reason, msg)
	if status != metav1.ConditionFalse || (prev.Status == status && prev.Reason == reason && prev.Message == msg) {
		return nil
	}
	return []sourceEvent{{typ: corev1.EventTypeWarning, reason: reason, note: msg}}
}

// event emits an Event and logs it; notes never hold a secret.
func (r *SourceReconciler) event(ctx context.Context, env *batonv1alpha1.Environment, e sourceEvent) {
	ctrl.LoggerFrom(ctx).Info(e.note, "environment", klog.KObj(env), "type", e.typ, "reason", e.reason)
	if r.Recorder == nil {
		return
	}
	if e.related != nil {
		r.Recorder.Eventf(env, e.related, e.typ, e.reason, "Source", "%s", e.note)
		return
	}
	r.Recorder.Eventf(env, nil, e.typ, e.reason, "Source", "%s", e.note)
}

func branchOf(env *batonv1alpha1.Environment) string {
	if b := env.Spec.Source.Git.Branch; b != "" {
		return b
	}
	return "main"
}

func interval(env *batonv1alpha1.Environment) time.Duration {
	if i := env.Spec.Source.Git.Interval; i != nil && i.Duration > 0 {
		return i.Duration
	}
	return defaultSourceInterval
}
