package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	batongit "github.com/baton-dev/baton/internal/git"
	"github.com/baton-dev/baton/internal/metrics"
)

// Secret keys of a NotificationPolicy's secretRef.
const (
	URLKey        = "url"
	SigningKeyKey = "signingKey"
	// MinSigningKey is the shortest signing key accepted, in bytes.
	MinSigningKey = 32
)

// DefaultEvents are sent when a policy lists none: how each Promotion
// ended. WaitingForApproval is not among them: every Promotion passes
// through it, for a moment, to check its approvals.
var DefaultEvents = []batonv1alpha1.PromotionPhase{batonv1alpha1.PromotionSucceeded, batonv1alpha1.PromotionFailed, batonv1alpha1.PromotionCanceled, batonv1alpha1.PromotionSuperseded}

// Notifier sends Events from a bounded queue with a few workers. Notify
// never blocks: when the queue is full the Event is dropped and counted,
// so a slow receiver can never slow a Promotion.
type Notifier struct {
	// Reader reads policies, Environments and Secrets uncached.
	Reader client.Reader
	// HTTP sends the deliveries; each has Timeout.
	HTTP    *http.Client
	Timeout time.Duration
	// Attempts per delivery, Backoff before the second (doubling after).
	Attempts int
	Backoff  time.Duration
	// Workers send in parallel.
	Workers int
	// Log is where failures are written, without any URL or key.
	Log   logr.Logger
	queue chan Event
}

// New is a Notifier with a queue of size events.
func New(reader client.Reader, size int, log logr.Logger) *Notifier {
	return &Notifier{Reader: reader, HTTP: &http.Client{CheckRedirect: noRedirect}, Timeout: 10 * time.Second,
		Attempts: 5, Backoff: time.Second, Workers: 2, Log: log, queue: make(chan Event, size)}
}

// noRedirect keeps a receiver from sending the body, signed, elsewhere.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Notify queues ev, or drops it when the queue is full.
func (n *Notifier) Notify(ev Event) {
	select {
	case n.queue <- ev:
	default:
		metrics.NotificationsTotal.WithLabelValues(ev.Namespace, "", "dropped").Inc()
		n.Log.Info("The notification queue is full; dropping a notification", "namespace", ev.Namespace, "promotion", ev.Promotion, "phase", ev.Phase)
	}
}

// Start runs the workers until ctx ends (a manager Runnable).
func (n *Notifier) Start(ctx context.Context) error {
	done := make(chan struct{})
	for range max(n.Workers, 1) {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				select {
				case <-ctx.Done():
					return
				case ev := <-n.queue:
					n.deliver(ctx, ev)
				}
			}
		}()
	}
	for range max(n.Workers, 1) {
		<-done
	}
	return nil
}

// NeedLeaderElection: only the leader reconciles, so only it notifies.
func (n *Notifier) NeedLeaderElection() bool { return true }

// deliver sends ev to every policy of its namespace that wants it.
func (n *Notifier) deliver(ctx context.Context, ev Event) {
	var policies batonv1alpha1.NotificationPolicyList
	if err := n.Reader.List(ctx, &policies, client.InNamespace(ev.Namespace)); err != nil {
		n.Log.Error(err, "List the NotificationPolicies", "namespace", ev.Namespace)
		return
	}
	var env *batonv1alpha1.Environment
	for i := range policies.Items {
		p := &policies.Items[i]
		if !wants(p, ev.Phase) {
			continue
		}
		if p.Spec.EnvironmentSelector != nil && env == nil {
			env = &batonv1alpha1.Environment{}
			if err := n.Reader.Get(ctx, client.ObjectKey{Namespace: ev.Namespace, Name: ev.Environment}, env); err != nil {
				n.Log.Error(err, "Read the Environment to match NotificationPolicies", "environment", ev.Environment)
				return
			}
		}
		ok, err := selects(p, env)
		if err != nil {
			n.fail(p, ev, "invalid", fmt.Errorf("spec.environmentSelector: %w", err))
			continue
		}
		if ok {
			n.send(ctx, p, ev)
		}
	}
}

func wants(p *batonv1alpha1.NotificationPolicy, phase string) bool {
	events := p.Spec.Events
	if len(events) == 0 {
		events = DefaultEvents
	}
	return slices.Contains(events, batonv1alpha1.PromotionPhase(phase))
}

func selects(p *batonv1alpha1.NotificationPolicy, env *batonv1alpha1.Environment) (bool, error) {
	if p.Spec.EnvironmentSelector == nil {
		return true, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(p.Spec.EnvironmentSelector)
	if err != nil {
		return false, err
	}
	return sel.Matches(labels.Set(env.Labels)), nil
}

// target is where and how one policy sends.
type target struct {
	url *url.URL
	key []byte
}

// send delivers ev to p's receiver, retrying with backoff.
func (n *Notifier) send(ctx context.Context, p *batonv1alpha1.NotificationPolicy, ev Event) {
	t, err := n.target(ctx, p)
	if err != nil {
		n.fail(p, ev, "invalid", err)
		return
	}
	body, err := encode(p.Spec.Format, ev)
	if err != nil {
		n.fail(p, ev, "invalid", err)
		return
	}
	wait := n.Backoff
	for attempt := 1; ; attempt++ {
		err = n.post(ctx, t, p.Spec.Format, ev, body)
		if err == nil {
			metrics.NotificationsTotal.WithLabelValues(p.Namespace, p.Name, "sent").Inc()
			return
		}
		if attempt >= max(n.Attempts, 1) || ctx.Err() != nil {
			n.fail(p, ev, "failed", fmt.Errorf("after %d attempts: %w", attempt, err))
			return
		}
		metrics.NotificationRetries.WithLabelValues(p.Namespace, p.Name).Inc()
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (n *Notifier) fail(p *batonv1alpha1.NotificationPolicy, ev Event, result string, err error) {
	metrics.NotificationsTotal.WithLabelValues(p.Namespace, p.Name, result).Inc()
	n.Log.Info("A notification was not delivered", "notificationPolicy", client.ObjectKeyFromObject(p),
		"promotion", ev.Promotion, "phase", ev.Phase, "result", result, "error", err.Error())
}

func encode(format batonv1alpha1.NotificationFormat, ev Event) ([]byte, error) {
	if format == batonv1alpha1.NotificationSlack {
		return slackBody(ev)
	}
	return webhookBody(ev)
}

// post is one delivery. Its error never carries the URL: a Slack
// webhook's path is its secret.
func (n *Notifier) post(ctx context.Context, t target, format batonv1alpha1.NotificationFormat, ev Event, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, n.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url.String(), bytes.NewReader(body))
	if err != nil {
		return errors.New("the url in the Secret is not a valid request URL")
	}
	req.Header.Set("Content-Type", "application/json")
	if format == batonv1alpha1.NotificationWebhook {
		now := time.Now()
		req.Header.Set(TimestampHeader, fmt.Sprint(now.Unix()))
		req.Header.Set(SignatureHeader, Sign(t.key, now, body))
		req.Header.Set(EventHeader, "Promotion"+ev.Phase)
	}
	res, err := n.HTTP.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("POST to the receiver at %s: %w", t.url.Hostname(), err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("the receiver at %s answered %s", t.url.Hostname(), res.Status)
	}
	return nil
}

// target reads and checks p's Secret. Its errors name the field and the
// Secret, never a value.
func (n *Notifier) target(ctx context.Context, p *batonv1alpha1.NotificationPolicy) (target, error) {
	name := p.Spec.SecretRef.Name
	s := &corev1.Secret{}
	if err := n.Reader.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: name}, s); err != nil {
		return target{}, fmt.Errorf("spec.secretRef: read Secret %s: %w", name, err)
	}
	return checkSecret(s, p.Spec.Format)
}

// checkSecret checks a policy's Secret: labelled as credentials, with a url
// that is https:// (or http:// to a loopback address), and for Webhook a
// signing key long enough.
func checkSecret(s *corev1.Secret, format batonv1alpha1.NotificationFormat) (target, error) {
	if s.Type != corev1.SecretTypeOpaque && s.Type != "" || s.Labels[batonv1alpha1.CredentialsLabel] != "true" {
		return target{}, fmt.Errorf("spec.secretRef: Secret %s must be of type Opaque and labelled %s=true; it is of type %q", s.Name, batonv1alpha1.CredentialsLabel, s.Type)
	}
	raw, ok := s.Data[URLKey]
	if !ok {
		return target{}, fmt.Errorf("spec.secretRef: Secret %s has no key %q", s.Name, URLKey)
	}
	u, err := url.Parse(string(bytes.TrimSpace(raw)))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return target{}, fmt.Errorf("spec.secretRef: key %q of Secret %s is not an http(s) URL", URLKey, s.Name)
	}
	if u.Scheme == "http" && !batongit.IsLoopback(u.Hostname()) {
		return target{}, fmt.Errorf("spec.secretRef: key %q of Secret %s is plain http:// to %s; notifications need https:// (plain http only to a loopback address)", URLKey, s.Name, u.Hostname())
	}
	t := target{url: u}
	if format == batonv1alpha1.NotificationWebhook {
		t.key = s.Data[SigningKeyKey]
		if len(t.key) < MinSigningKey {
			return target{}, fmt.Errorf("spec.secretRef: Secret %s needs the key %q of at least %d bytes to sign Webhook deliveries; it has %d", s.Name, SigningKeyKey, MinSigningKey, len(t.key))
		}
	}
	return t, nil
}
