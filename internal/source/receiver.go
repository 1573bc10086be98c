package source

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// WebhookTokenKey is the key of the webhook Secret holding the shared secret.
const WebhookTokenKey = "token"

// MaxBodyBytes bounds a hook's body; larger ones are refused with 413.
const MaxBodyBytes = 1 << 20

// Default rate limits: all hooks together, and hooks for one Environment.
const (
	DefaultRate           = rate.Limit(20)
	DefaultBurst          = 40
	DefaultPerEnvironment = rate.Limit(1)
	DefaultPerEnvBurst    = 5
	maxLimiters           = 10000
)

// Receiver serves push webhooks at /hooks/<namespace>/<environment>. A
// verified push to the Environment's branch does one thing: it sets the
// promotion.baton.dev/source-requested-at annotation, so that the leader
// reads the branch head at once. It runs on every replica.
type Receiver struct {
	// Addr is the address to listen on, such as ":9292".
	Addr string
	// Reader reads Environments and webhook Secrets, uncached.
	Reader client.Reader
	// Client patches the annotation.
	Client client.Client
	// Log records every answer, never a body, header or secret.
	Log logr.Logger
	// Rate and Burst limit all hooks, a flood guard for the API server;
	// PerEnvironment and PerEnvBurst the authenticated hooks for one
	// Environment. Zero means the defaults.
	Rate, PerEnvironment rate.Limit
	Burst, PerEnvBurst   int
	// Now stamps the annotation; empty means time.Now.
	Now func() time.Time
	// RefusalFloor is the least time a refusal of an unauthenticated hook
	// takes. Zero means DefaultRefusalFloor.
	RefusalFloor time.Duration

	once     sync.Once
	global   *rate.Limiter
	mu       sync.Mutex
	limiters map[string]*rate.Limiter
	mux      *http.ServeMux
}

var (
	_ manager.Runnable               = (*Receiver)(nil)
	_ manager.LeaderElectionRunnable = (*Receiver)(nil)
)

// NeedLeaderElection is false: every replica answers hooks.
func (r *Receiver) NeedLeaderElection() bool { return false }

func (r *Receiver) init() {
	r.once.Do(func() {
		if r.Rate == 0 {
			r.Rate, r.Burst = DefaultRate, DefaultBurst
		}
		if r.PerEnvironment == 0 {
			r.PerEnvironment, r.PerEnvBurst = DefaultPerEnvironment, DefaultPerEnvBurst
		}
		if r.Now == nil {
			r.Now = time.Now
		}
		if r.RefusalFloor == 0 {
			r.RefusalFloor = DefaultRefusalFloor
		}
		r.global = rate.NewLimiter(r.Rate, r.Burst)
		r.limiters = map[string]*rate.Limiter{}
		r.mux = http.NewServeMux()
		r.mux.HandleFunc("POST /hooks/{namespace}/{environment}", r.serveHook)
	})
}

// Start serves until ctx ends.
func (r *Receiver) Start(ctx context.Context) error {
	r.init()
	srv := &http.Server{
		Addr:              r.Addr,
		Handler:           r,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	r.Log.Info("serving push webhooks", "address", r.Addr, "path", "/hooks/<namespace>/<environment>")
	select {
	case err := <-errc:
		return fmt.Errorf("serve webhooks on %s: %w", r.Addr, err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("stop the webhook server: %w", err)
	}
	return nil
}

// ServeHTTP answers one hook.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.init()
	r.mux.ServeHTTP(w, req)
}

func (r *Receiver) serveHook(w http.ResponseWriter, req *http.Request) {
	key := types.NamespacedName{Namespace: req.PathValue("namespace"), Name: req.PathValue("environment")}
	status, msg := r.handle(req, key)
	r.Log.V(1).Info("push webhook", "environment", key.String(), "status", status, "answer", msg)
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

// Refused is the one answer to every hook that does not authenticate:
// for an Environment that does not exist, that takes no webhooks, whose
// webhook Secret is not set up, and for a signature that does not match.
// The caller learns nothing about which Environments exist; the manager's
// log says which it was.
const Refused = "refused: no Environment at this path takes hooks signed with this secret; check the URL and the secret in spec.source.git.webhookSecretRef"

// DefaultRefusalFloor is how long every refusal of an unauthenticated hook
// takes at least, so that the API reads an existing Environment costs do
// not tell it apart from one that does not exist.
const DefaultRefusalFloor = 100 * time.Millisecond

// handle decides the answer. The order matters: cheap refusals first, then
// authentication, the same way whether the Environment exists or not; the
// rate limit of one Environment is spent only by hooks that authenticate,
// and the body is parsed only once its signature verifies.
func (r *Receiver) handle(req *http.Request, key types.NamespacedName) (int, string) {
	start := time.Now()
	if !r.global.Allow() {
		return http.StatusTooManyRequests, "too many hooks; retry later"
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, req.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", MaxBodyBytes)
		}
		return http.StatusBadRequest, "the body could not be read"
	}
	sig, err := ParseSignature(req.Header)
	if err != nil {
		return hookStatus(err)
	}
	ctx := req.Context()
	env, secret, err := r.authenticate(ctx, key)
	if err != nil {
		r.Log.Error(err, "read the Environment of a webhook", "environment", key.String())
		return http.StatusServiceUnavailable, "the hook could not be checked; retry later"
	}
	// A missing secret is checked against a random one, so that an unknown
	// Environment costs the same HMAC as a wrong signature.
	ok := sig.Verify(body, orRandom(secret))
	if !ok || secret == nil {
		r.Log.V(1).Info("refused a webhook", "environment", key.String(), "known", env != nil, "secretSetUp", secret != nil)
		r.pad(ctx, start)
		return http.StatusUnauthorized, Refused
	}
	if !r.limiter(key.String()).Allow() {
		return http.StatusTooManyRequests, "too many hooks for " + key.String() + "; retry later"
	}
	ev, err := ParseEvent(sig.Provider, req.Header, body)
	if err != nil {
		return hookStatus(err)
	}
	branch := env.Spec.Source.Git.Branch
	if branch == "" {
		branch = "main"
	}
	if ok, why := ev.Triggers(branch); !ok {
		return http.StatusAccepted, "ignored: " + why
	}
	if err := r.request(ctx, env); err != nil {
		r.Log.Error(err, "annotate the Environment of a webhook", "environment", key.String())
		return http.StatusServiceUnavailable, "the read could not be requested; retry later"
	}
	return http.StatusAccepted, "accepted: Baton reads the head of branch " + branch + " now"
}

// authenticate reads the Environment at key and its webhook secret, with
// the uncached reader, from the Environment's namespace only. secret is nil
// when the path names no Environment, one that takes no webhooks, or one
// whose Secret is not set up; err is only for an API server that cannot
// be read.
func (r *Receiver) authenticate(ctx context.Context, key types.NamespacedName) (env *batonv1alpha1.Environment, secret []byte, err error) {
	if len(validation.IsDNS1123Label(key.Namespace)) > 0 || len(validation.IsDNS1123Subdomain(key.Name)) > 0 {
		return nil, nil, nil
	}
	env = &batonv1alpha1.Environment{}
	if err := r.Reader.Get(ctx, key, env); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	if env.Spec.Source == nil || env.Spec.Source.Git.WebhookSecretRef == nil {
		return env, nil, nil
	}
	return env, r.secret(ctx, env), nil
}

// orRandom is secret, or a fresh random key when there is none.
func orRandom(secret []byte) []byte {
	if secret != nil {
		return secret
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

// pad waits until the refusal floor has passed since start.
func (r *Receiver) pad(ctx context.Context, start time.Time) {
	t := time.NewTimer(time.Until(start.Add(r.RefusalFloor)))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func hookStatus(err error) (int, string) {
	var he *HookError
	if errors.As(err, &he) {
		return he.Status, he.Message
	}
	return http.StatusBadRequest, "the hook could not be parsed"
}

// secret reads the webhook secret. Its value is returned, never shown; a
// Secret that is missing or lacks the key is logged and returned as nil.
func (r *Receiver) secret(ctx context.Context, env *batonv1alpha1.Environment) []byte {
	key := types.NamespacedName{Namespace: env.Namespace, Name: env.Spec.Source.Git.WebhookSecretRef.Name}
	s := &corev1.Secret{}
	if err := r.Reader.Get(ctx, key, s); err != nil {
		r.Log.Info("the webhook Secret cannot be read", "environment", env.Namespace+"/"+env.Name, "secret", key.String(), "error", err.Error())
		return nil
	}
	v := s.Data[WebhookTokenKey]
	if len(v) == 0 {
		r.Log.Info("the webhook Secret has no "+WebhookTokenKey+" key", "environment", env.Namespace+"/"+env.Name, "secret", key.String())
		return nil
	}
	return v
}

// request sets the annotation with a merge patch of that one key.
func (r *Receiver) request(ctx context.Context, env *batonv1alpha1.Environment) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		batonv1alpha1.SourceRequestedAtAnnotation: r.Now().UTC().Format(time.RFC3339Nano),
	}}})
	if err != nil {
		return fmt.Errorf("encode the annotation patch: %w", err)
	}
	if err := r.Client.Patch(ctx, env, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("annotate Environment %s/%s: %w", env.Namespace, env.Name, err)
	}
	return nil
}

func (r *Receiver) limiter(key string) *rate.Limiter {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.limiters[key]
	if !ok {
		if len(r.limiters) >= maxLimiters {
			r.limiters = map[string]*rate.Limiter{}
		}
		l = rate.NewLimiter(r.PerEnvironment, r.PerEnvBurst)
		r.limiters[key] = l
	}
	return l
}

// CheckAddr checks a bind address flag, for a clear error at start-up.
func CheckAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--hooks-bind-address %q: %w", addr, err)
	}
	if _, err := strconv.Atoi(port); err != nil {
		return fmt.Errorf("--hooks-bind-address %q: the port is not a number", addr)
	}
	return nil
}
