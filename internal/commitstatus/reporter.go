package commitstatus

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/image"
	"github.com/baton-dev/baton/internal/metrics"
	"github.com/baton-dev/baton/internal/netpolicy"
	"github.com/baton-dev/baton/internal/statuspatch"
)

// maxHops bounds the walk from an Environment up to its entry Environment.
const maxHops = 20

// Reporter sends commit statuses from bounded queues, one worker each.
// All changes of one namespace (one path of Environments) go to the same
// worker, so each commit sees its states in the order they happened.
// Report never blocks: a full queue drops the change and counts it.
type Reporter struct {
	// Reader reads Environments and Secrets uncached.
	Reader client.Reader
	// Writer writes the CommitStatusReported condition of the entry
	// Environment.
	Writer client.Client
	// HTTP makes the calls: TLS verified, redirects only to the same host.
	HTTP *http.Client
	// Timeout of each call; Attempts per status; Backoff before the second
	// attempt, doubling after, and MaxWait the longest wait, also for a
	// rate limit's Retry-After (a longer one gives up at once).
	Timeout  time.Duration
	Attempts int
	Backoff  time.Duration
	MaxWait  time.Duration
	// AllowedHosts is the manager's --allowed-git-hosts.
	AllowedHosts []string
	Log          logr.Logger
	queues       []chan Change

	// last is what each commit's context last showed, so that a phase
	// change that shows nothing new (Promoting and RollingOut of a
	// rollback) costs no call against the forge's rate limit.
	mu   sync.Mutex
	last map[string]Status
}

// maxRemembered bounds last; past it, it starts over (a repeat costs one
// call, nothing more).
const maxRemembered = 10000

// New is a Reporter with workers queues of size changes each.
func New(reader client.Reader, writer client.Client, workers, size int, log logr.Logger) *Reporter {
	r := &Reporter{Reader: reader, Writer: writer, HTTP: &http.Client{CheckRedirect: sameHost},
		Timeout: 10 * time.Second, Attempts: 5, Backoff: time.Second, MaxWait: time.Minute, Log: log}
	for range max(workers, 1) {
		r.queues = append(r.queues, make(chan Change, size))
	}
	return r
}

// sameHost follows a redirect only to the host of the first request and
// never down to http, so the token goes nowhere else.
func sameHost(req *http.Request, via []*http.Request) error {
	if !netpolicy.SameHost(req, via) {
		return http.ErrUseLastResponse
	}
	return nil
}

// Report queues ch, or drops it when its queue is full.
func (r *Reporter) Report(ch Change) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(ch.Namespace))
	select {
	case r.queues[int(h.Sum32())%len(r.queues)] <- ch:
	default:
		metrics.CommitStatusesTotal.WithLabelValues(ch.Namespace, "", "dropped").Inc()
		r.Log.Info("The commit-status queue is full; dropping a status", "namespace", ch.Namespace, "promotion", ch.Promotion, "phase", ch.Phase)
	}
}

// Start runs the workers until ctx ends (a manager Runnable).
func (r *Reporter) Start(ctx context.Context) error {
	done := make(chan struct{})
	for _, q := range r.queues {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				select {
				case <-ctx.Done():
					return
				case ch := <-q:
					r.deliver(ctx, ch)
				}
			}
		}()
	}
	for range r.queues {
		<-done
	}
	return nil
}

// NeedLeaderElection: only the leader reconciles, so only it reports.
func (r *Reporter) NeedLeaderElection() bool { return true }

// deliver reports ch on its source commit, when the path it is on starts
// at an entry Environment with spec.source.commitStatus.
func (r *Reporter) deliver(ctx context.Context, ch Change) {
	env, entry, err := r.path(ctx, ch)
	if err != nil {
		r.Log.Error(err, "Read the Environments of a commit status", "namespace", ch.Namespace, "environment", ch.Environment)
		return
	}
	if entry == nil {
		return
	}
	sha := CommitOf(ch, env, entry)
	if sha == "" {
		r.Log.V(1).Info("No source commit for this image; no commit status", "namespace", ch.Namespace, "environment", ch.Environment, "promotion", ch.Promotion)
		return
	}
	st, ok := Describe(ch, env.Spec.Approval.Required)
	if !ok || r.shown(ch.Namespace, sha, st) {
		return
	}
	t, err := r.target(ctx, entry)
	if err != nil {
		provider := string(entry.Spec.Source.CommitStatus.Provider)
		metrics.CommitStatusesTotal.WithLabelValues(ch.Namespace, provider, "invalid").Inc()
		r.condition(ctx, entry, metav1.ConditionFalse, batonv1alpha1.CommitStatusInvalidReason, err.Error())
		return
	}
	provider := string(t.Provider)
	attempts, err := r.send(ctx, ch.Namespace, t, sha, st)
	if err == nil {
		r.remember(ch.Namespace, sha, st)
		metrics.CommitStatusesTotal.WithLabelValues(ch.Namespace, provider, "sent").Inc()
		r.condition(ctx, entry, metav1.ConditionTrue, batonv1alpha1.CommitStatusSentReason,
			fmt.Sprintf("Reporting the state of each Environment on the source commits of %s at %s (%s)", t.Repository, t.Address.Host, provider))
		return
	}
	var ferr *Error
	if !errors.As(err, &ferr) {
		ferr = &Error{Kind: Unavailable, Err: err}
	}
	metrics.CommitStatusesTotal.WithLabelValues(ch.Namespace, provider, string(ferr.Kind)).Inc()
	reason, msg := failure(t, entry, st, sha, attempts, ferr)
	r.Log.Info("A commit status was not reported", "namespace", ch.Namespace, "environment", ch.Environment,
		"promotion", ch.Promotion, "context", st.Context, "commit", sha, "reason", reason, "error", ferr.Error())
	r.condition(ctx, entry, metav1.ConditionFalse, reason, msg)
}

func (r *Reporter) shown(namespace, sha string, st Status) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last[namespace+"/"+sha+"/"+st.Context] == st
}

func (r *Reporter) remember(namespace, sha string, st Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil || len(r.last) >= maxRemembered {
		r.last = map[string]Status{}
	}
	r.last[namespace+"/"+sha+"/"+st.Context] = st
}

// path reads ch's Environment and the entry Environment of its path; entry
// is nil when that one does not report commit statuses.
func (r *Reporter) path(ctx context.Context, ch Change) (env, entry *batonv1alpha1.Environment, err error) {
	env = &batonv1alpha1.Environment{}
	if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: ch.Namespace, Name: ch.Environment}, env); err != nil {
		return nil, nil, client.IgnoreNotFound(err)
	}
	entry = env
	for hop := 0; entry.Spec.Upstream != ""; hop++ {
		if hop == maxHops {
			return env, nil, nil
		}
		up := &batonv1alpha1.Environment{}
		if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: ch.Namespace, Name: entry.Spec.Upstream}, up); err != nil {
			return nil, nil, client.IgnoreNotFound(err)
		}
		entry = up
	}
	if entry.Spec.Source == nil || entry.Spec.Source.CommitStatus == nil {
		return env, nil, nil
	}
	return env, entry, nil
}

// CommitOf is the source commit ch is reported on: the one its Promotion
// names, for a Promotion spec.source created; else the one the entry
// Environment's history records for the image (for a rollback, the image
// it rolls back away from). Empty when the image came from no source
// commit.
func CommitOf(ch Change, env, entry *batonv1alpha1.Environment) string {
	if ch.SourceCommit != "" && !ch.Rollback {
		return ch.SourceCommit
	}
	img, digest := ch.Image, ch.Digest
	if ch.Rollback {
		img, digest = ch.PreviousImage, ""
	}
	if img == "" {
		return ""
	}
	h := entry.Status.History
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].SourceCommit != "" && !h[i].Rollback && image.Same(h[i].Image, h[i].Digest, img, digest) {
			return h[i].SourceCommit
		}
	}
	return ""
}

// target resolves the entry Environment's commitStatus and reads its
// token, uncached.
func (r *Reporter) target(ctx context.Context, entry *batonv1alpha1.Environment) (Target, error) {
	t, err := Resolve(entry.Spec.Source, r.AllowedHosts)
	if err != nil {
		return Target{}, err
	}
	name := entry.Spec.Source.CommitStatus.SecretRef.Name
	s := &corev1.Secret{}
	if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: entry.Namespace, Name: name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return Target{}, fmt.Errorf("%s.secretRef: Secret %s not found in namespace %s", field, name, entry.Namespace)
		}
		return Target{}, fmt.Errorf("%s.secretRef: read Secret %s: %w", field, name, err)
	}
	if t.Token, err = tokenOf(s); err != nil {
		return Target{}, err
	}
	return t, nil
}

// send makes up to Attempts calls, waiting between them; it returns how
// many it made.
func (r *Reporter) send(ctx context.Context, namespace string, t Target, sha string, st Status) (int, error) {
	wait := r.Backoff
	for attempt := 1; ; attempt++ {
		callCtx, cancel := context.WithTimeout(ctx, r.Timeout)
		err := Send(callCtx, r.HTTP, t, sha, st)
		cancel()
		if err == nil {
			return attempt, nil
		}
		var ferr *Error
		retryable := !errors.As(err, &ferr) || ferr.Retryable()
		pause := wait
		if ferr != nil && ferr.RetryAfter > pause {
			pause = ferr.RetryAfter
		}
		if !retryable || attempt >= max(r.Attempts, 1) || pause > r.MaxWait || ctx.Err() != nil {
			return attempt, err
		}
		metrics.CommitStatusRetries.WithLabelValues(namespace, string(t.Provider)).Inc()
		select {
		case <-ctx.Done():
			return attempt, ctx.Err()
		case <-time.After(pause):
		}
		wait *= 2
	}
}

// failure is the condition reason and message for a status the forge did
// not take: what happened and what a person can do, never the token.
func failure(t Target, entry *batonv1alpha1.Environment, st Status, sha string, attempts int, e *Error) (string, string) {
	where := fmt.Sprintf("%s at %s", t.Provider, t.Address.Host)
	what := fmt.Sprintf("the status %s (%q) on commit %s of %s", st.Context, st.Description, short(sha), t.Repository)
	secret := entry.Spec.Source.CommitStatus.SecretRef.Name
	switch e.Kind {
	case RateLimited:
		after := ""
		if e.RetryAfter > 0 {
			after = fmt.Sprintf("; it may be called again in %s", e.RetryAfter.Round(time.Second))
		}
		return batonv1alpha1.CommitStatusRateLimitedReason, fmt.Sprintf("%s rate-limited %s (%d)%s. Promotions go on; the next phase change reports again. Use a token with a higher limit (a GitHub App) if this repeats",
			where, what, e.Code, after)
	case Unauthorized:
		return batonv1alpha1.CommitStatusUnauthorizedReason, fmt.Sprintf("%s refused the token in key %q of Secret %s (%d %s) for %s: check that it is valid and may set commit statuses on %s",
			where, TokenKey, secret, e.Code, http.StatusText(e.Code), what, t.Repository)
	case Rejected:
		hint := ""
		if e.Code == http.StatusNotFound {
			hint = fmt.Sprintf(": check %s.repository (%s) and that the commit was pushed there", field, t.Repository)
		}
		return batonv1alpha1.CommitStatusFailedReason, fmt.Sprintf("%s rejected %s: %s%s", where, what, e.Error(), hint)
	}
	return batonv1alpha1.CommitStatusFailedReason, fmt.Sprintf("%s did not take %s after %d attempts: %s. Promotions go on; check %s.address and that the forge is up",
		where, what, attempts, e.Error(), field)
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// condition sets CommitStatusReported on the entry Environment, on fresh
// data, with optimistic concurrency; nothing is written when it says what
// it said.
func (r *Reporter) condition(ctx context.Context, entry *batonv1alpha1.Environment, status metav1.ConditionStatus, reason, msg string) {
	if r.Writer == nil {
		return
	}
	key := client.ObjectKeyFromObject(entry)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		env := &batonv1alpha1.Environment{}
		if err := r.Reader.Get(ctx, key, env); err != nil {
			return client.IgnoreNotFound(err)
		}
		helper := statuspatch.New(r.Writer, env)
		apimeta.SetStatusCondition(&env.Status.Conditions, metav1.Condition{Type: batonv1alpha1.CommitStatusReportedCondition,
			Status: status, Reason: reason, Message: batonv1alpha1.RevisionMessage(msg), ObservedGeneration: env.Generation})
		_, err := helper.Patch(ctx, env)
		return err
	})
	if err != nil {
		r.Log.Error(err, "Write the CommitStatusReported condition", "environment", key)
	}
}
