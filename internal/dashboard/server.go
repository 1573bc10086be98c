package dashboard

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/identity"
	"github.com/baton-dev/baton/internal/plugin"
)

//go:embed web
var web embed.FS

// Timing of the live updates.
const (
	// settle gathers the watch events of one change (a Promotion and its
	// Environment are written together) into one update of the page.
	settle = 50 * time.Millisecond
	// resync re-reads everything even without events: ages and RBAC change
	// without an event in the namespace.
	resync = 30 * time.Second
	// permissionsTTL is how long an answer of a SelfSubjectAccessReview is
	// reused.
	permissionsTTL = 10 * time.Second
	// maxBody bounds an action's request body.
	maxBody = 64 << 10
)

// Server is the dashboard for one namespace, acting as the kubeconfig's
// user.
type Server struct {
	client client.WithWatch
	ns     string
	guard  *guard
	log    logr.Logger
	now    func() time.Time

	user  string
	perms *permissionCache

	dirty chan struct{}
	ready chan struct{} // closed once the first state is built
	mu    sync.Mutex
	state []byte // the latest State as JSON
	subs  map[chan []byte]struct{}
}

// NewServer returns a dashboard for namespace ns on port, acting through c.
func NewServer(c client.WithWatch, ns string, port int, log logr.Logger) (*Server, error) {
	g, err := newGuard(port)
	if err != nil {
		return nil, err
	}
	return &Server{
		client: c, ns: ns, guard: g, log: log, now: time.Now,
		perms: &permissionCache{client: c, ns: ns, ttl: permissionsTTL, answers: map[string]cached{}},
		dirty: make(chan struct{}, 1),
		ready: make(chan struct{}),
		subs:  map[chan []byte]struct{}{},
	}, nil
}

// URL is the address to open: it carries the session token once.
func (s *Server) URL() string { return s.guard.URL() }

// Run reads who the user is, then keeps the page's state current from
// watches until ctx ends.
func (s *Server) Run(ctx context.Context) {
	s.user = whoAmI(ctx, s.client)
	for _, list := range []client.ObjectList{&batonv1alpha1.EnvironmentList{}, &batonv1alpha1.PromotionList{}, &corev1.EventList{}} {
		go s.watch(ctx, list)
	}
	s.refresh(ctx)
	close(s.ready)
	ticker := time.NewTicker(resync)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.dirty:
			time.Sleep(settle)
			s.refresh(ctx)
		case <-ticker.C:
			s.refresh(ctx)
		}
	}
}

// markDirty asks Run for a new state; several asks before it runs make one.
func (s *Server) markDirty() {
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

// watch marks the state dirty on every change of one kind in the
// namespace, and opens the watch again when the server closes it.
func (s *Server) watch(ctx context.Context, list client.ObjectList) {
	for ctx.Err() == nil {
		w, err := s.client.Watch(ctx, list, client.InNamespace(s.ns))
		if err != nil {
			// Forbidden (Events the user may not watch) or not reachable:
			// the resync still brings changes, only later.
			s.log.V(1).Info("watch failed; retrying", "kind", fmt.Sprintf("%T", list), "error", err.Error())
			select {
			case <-ctx.Done():
			case <-time.After(resync):
			}
			continue
		}
		for range w.ResultChan() {
			s.markDirty()
		}
		w.Stop()
		// What changed while no watch was open comes with the next list;
		// the pause keeps a server that closes watches at once from
		// spinning this loop.
		s.markDirty()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// refresh reads the namespace, builds the State and sends it to every page.
func (s *Server) refresh(ctx context.Context) {
	snap := s.read(ctx)
	state := buildState(snap)
	state.CSRF = s.guard.csrf
	data, err := json.Marshal(state)
	if err != nil {
		s.log.Error(err, "encode the dashboard state")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if bytes.Equal(data, s.state) {
		// Nothing the page shows changed (a resync, or an update of a
		// field it does not show): do not make every page render again.
		return
	}
	s.state = data
	for ch := range s.subs {
		select {
		case <-ch: // drop the update the page has not taken yet
		default:
		}
		ch <- data
	}
}

// read lists what the page shows. What cannot be read becomes a note.
func (s *Server) read(ctx context.Context) snapshot {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	snap := snapshot{namespace: s.ns, user: s.user, permissions: map[string]Permissions{}}
	envs := &batonv1alpha1.EnvironmentList{}
	if err := s.client.List(ctx, envs, client.InNamespace(s.ns)); err != nil {
		snap.notes = append(snap.notes, fmt.Sprintf("Cannot list Environments in namespace %s: %v", s.ns, err))
	}
	promos := &batonv1alpha1.PromotionList{}
	if err := s.client.List(ctx, promos, client.InNamespace(s.ns)); err != nil {
		snap.notes = append(snap.notes, fmt.Sprintf("Cannot list Promotions in namespace %s: %v", s.ns, err))
	}
	events := &corev1.EventList{}
	if err := s.client.List(ctx, events, client.InNamespace(s.ns)); err != nil {
		if apierrors.IsForbidden(err) {
			snap.notes = append(snap.notes, fmt.Sprintf("Events are not shown: you may not list events in namespace %s (kubectl auth can-i list events -n %s)", s.ns, s.ns))
		} else {
			snap.notes = append(snap.notes, fmt.Sprintf("Cannot list Events in namespace %s: %v", s.ns, err))
		}
	}
	snap.environments, snap.promotions, snap.events = envs.Items, promos.Items, events.Items
	for _, e := range envs.Items {
		snap.permissions[e.Name] = s.perms.of(ctx, e.Name)
	}
	return snap
}

// whoAmI asks the API server who the kubeconfig's user is, for the header.
func whoAmI(ctx context.Context, c client.Client) string {
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, review); err != nil {
		return "unknown user"
	}
	return review.Status.UserInfo.Username
}

// Handler serves the page, its state, the live updates and the actions.
// Every request passes the guard first.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page)
	mux.HandleFunc("GET /app.js", s.file("web/app.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /style.css", s.file("web/style.css", "text/css; charset=utf-8"))
	mux.HandleFunc("GET /api/state", s.currentState)
	mux.HandleFunc("GET /api/events", s.events)
	mux.HandleFunc("POST /api/promote", s.action(s.promote))
	mux.HandleFunc("POST /api/undo", s.action(s.undo))
	mux.HandleFunc("POST /api/approve", s.action(s.approve))
	mux.HandleFunc("POST /api/cancel", s.action(s.cancel))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secureHeaders(w.Header())
		action := r.Method != http.MethodGet && r.Method != http.MethodHead
		if no := s.guard.check(r, action); no != nil {
			s.log.Info("refused a request", "method", r.Method, "path", r.URL.Path, "status", no.status, "why", no.msg)
			http.Error(w, no.msg, no.status)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// page trades the token in the URL for the cookie, and takes the token out
// of the address bar and the history; then it serves the page.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("token") {
		http.SetCookie(w, s.guard.session())
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.file("web/index.html", "text/html; charset=utf-8")(w, r)
}

func (s *Server) file(name, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		data, err := web.ReadFile(name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(data)
	}
}

func (s *Server) latest() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

func (s *Server) currentState(w http.ResponseWriter, r *http.Request) {
	select {
	case <-s.ready:
	case <-r.Context().Done():
		return
	}
	data := s.latest()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(data)
}

// events streams the State as server-sent events, one whenever it changes.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported", http.StatusInternalServerError)
		return
	}
	ch := make(chan []byte, 1)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	if s.state != nil {
		ch <- s.state
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case data := <-ch:
			// JSON has no raw newlines, so one data line carries it.
			fmt.Fprintf(w, "event: state\ndata: %s\n\n", data)
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
		}
		flusher.Flush()
	}
}

// result is an action's answer to the page.
type result struct {
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
	Field   string `json:"field,omitempty"`
}

// fieldError is bad input in an action's body, naming the field.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

// action decodes an action's JSON body, runs it as the user and answers
// with its message, or with the refusal in the words of RBAC or the webhook.
func (s *Server) action(do func(context.Context, json.RawMessage) (string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			writeResult(w, http.StatusRequestEntityTooLarge, result{Error: fmt.Sprintf("the request body is over %d bytes", maxBody)})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		msg, err := do(ctx, body)
		if err != nil {
			writeResult(w, statusOf(err), resultOf(err))
			return
		}
		s.markDirty()
		writeResult(w, http.StatusOK, result{Message: msg})
	}
}

func resultOf(err error) result {
	var fe *fieldError
	if errors.As(err, &fe) {
		return result{Error: fe.Error(), Field: fe.field}
	}
	return result{Error: err.Error()}
}

func statusOf(err error) int {
	var fe *fieldError
	switch {
	case errors.As(err, &fe):
		return http.StatusBadRequest
	case plugin.ExitCode(err) == plugin.ExitDenied:
		return http.StatusForbidden
	case plugin.ExitCode(err) == plugin.ExitUsage:
		return http.StatusBadRequest
	}
	return http.StatusConflict
}

func writeResult(w http.ResponseWriter, status int, res result) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(res)
}

// Action bodies. Unknown fields are refused, so a typo is not silently
// ignored.
type (
	promoteRequest struct {
		Environment string `json:"environment"`
		Image       string `json:"image"`
		Reason      string `json:"reason"`
	}
	undoRequest struct {
		Environment string `json:"environment"`
		ToRevision  int64  `json:"toRevision"`
		Reason      string `json:"reason"`
	}
	promotionRequest struct {
		Promotion string `json:"promotion"`
	}
)

func decode(body json.RawMessage, into any) error {
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return &fieldError{strings.Trim(field, `"`), "unknown field"}
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return &fieldError{te.Field, fmt.Sprintf("must be a %s, got a JSON %s", te.Type, te.Value)}
		}
		return &fieldError{"body", "not a JSON object: " + err.Error()}
	}
	return nil
}

// checkName refuses what cannot be an object's name before it reaches the
// API server, naming the field.
func checkName(field, name string) error {
	if name == "" {
		return &fieldError{field, "required"}
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return &fieldError{field, fmt.Sprintf("%q is not a valid name: %s", name, strings.Join(errs, "; "))}
	}
	return nil
}

func checkReason(reason string) error {
	if strings.TrimSpace(reason) == "" {
		return &fieldError{"reason", "required: say why, in a few words; it is recorded in the history and the commit"}
	}
	return nil
}

func (s *Server) promote(ctx context.Context, body json.RawMessage) (string, error) {
	var req promoteRequest
	if err := decode(body, &req); err != nil {
		return "", err
	}
	if err := checkName("environment", req.Environment); err != nil {
		return "", err
	}
	if strings.ContainsAny(req.Image, " \t\r\n") {
		return "", &fieldError{"image", fmt.Sprintf("%q contains whitespace; pick one image reference", req.Image)}
	}
	if err := checkReason(req.Reason); err != nil {
		return "", err
	}
	spec := batonv1alpha1.PromotionSpec{Environment: req.Environment, Image: req.Image, Reason: req.Reason}
	p, _, err := plugin.CreatePromotion(ctx, s.client, s.ns, spec, s.now())
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Created Promotion %s into %s", p.Name, req.Environment), nil
}

func (s *Server) undo(ctx context.Context, body json.RawMessage) (string, error) {
	var req undoRequest
	if err := decode(body, &req); err != nil {
		return "", err
	}
	if err := checkName("environment", req.Environment); err != nil {
		return "", err
	}
	if req.ToRevision < 0 {
		return "", &fieldError{"toRevision", fmt.Sprintf("must be 0 (the previous successful revision) or a revision of the history, got %d", req.ToRevision)}
	}
	if err := checkReason(req.Reason); err != nil {
		return "", err
	}
	spec := batonv1alpha1.PromotionSpec{
		Environment: req.Environment,
		Rollback:    &batonv1alpha1.RollbackSpec{ToRevision: req.ToRevision},
		Reason:      req.Reason,
	}
	p, _, err := plugin.CreatePromotion(ctx, s.client, s.ns, spec, s.now())
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Created rollback %s into %s", p.Name, req.Environment), nil
}

func (s *Server) approve(ctx context.Context, body json.RawMessage) (string, error) {
	p, err := s.onPromotion(ctx, body, plugin.ApprovePromotion)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Approved %s for %s", p.Name, p.Status.Image), nil
}

func (s *Server) cancel(ctx context.Context, body json.RawMessage) (string, error) {
	p, err := s.onPromotion(ctx, body, plugin.CancelPromotion)
	if err != nil {
		return "", err
	}
	msg := "Cancel requested for " + p.Name
	if plugin.CancelTooLate(p) {
		msg += fmt.Sprintf("; it is %s, so Baton will refuse the cancel: roll back instead", p.Status.Phase)
	}
	return msg, nil
}

// onPromotion decodes a body that names a Promotion and runs the plugin's
// action on it.
func (s *Server) onPromotion(ctx context.Context, body json.RawMessage,
	do func(context.Context, client.Client, string, string) (*batonv1alpha1.Promotion, error)) (*batonv1alpha1.Promotion, error) {
	var req promotionRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if err := checkName("promotion", req.Promotion); err != nil {
		return nil, err
	}
	return do(ctx, s.client, s.ns, req.Promotion)
}

// permissionCache answers "may I?" with SelfSubjectAccessReviews, as the
// buttons need, and keeps each answer a short while.
type permissionCache struct {
	client  client.Client
	ns      string
	ttl     time.Duration
	mu      sync.Mutex
	answers map[string]cached
}

type cached struct {
	allowed bool
	at      time.Time
}

// of says which actions the user may take on Environment env: each needs a
// verb on promotions (RBAC) and Baton's verb on the Environment (the
// webhook's SubjectAccessReview).
func (p *permissionCache) of(ctx context.Context, env string) Permissions {
	create := p.can(ctx, "create", "promotions", "")
	patch := p.can(ctx, "patch", "promotions", "")
	promote := p.can(ctx, identity.VerbPromote, "environments", env)
	rollback := p.can(ctx, identity.VerbRollback, "environments", env)
	return Permissions{
		Promote:        create && promote,
		Rollback:       create && rollback,
		Approve:        patch && p.can(ctx, identity.VerbApprove, "environments", env),
		Cancel:         patch && promote,
		CancelRollback: patch && rollback,
	}
}

func (p *permissionCache) can(ctx context.Context, verb, resource, name string) bool {
	key := verb + " " + resource + "/" + name
	p.mu.Lock()
	c, ok := p.answers[key]
	p.mu.Unlock()
	if ok && time.Since(c.at) < p.ttl {
		return c.allowed
	}
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: p.ns, Verb: verb, Group: batonv1alpha1.GroupVersion.Group, Resource: resource, Name: name,
		},
	}}
	// A review that fails leaves the button disabled: the page never
	// offers what it could not check. Only an answer is kept: a review
	// that failed (a busy API server, the read's deadline) is asked again
	// at the next read, not held against the user for the TTL.
	if err := p.client.Create(ctx, review); err != nil {
		return false
	}
	allowed := review.Status.Allowed && !review.Status.Denied
	p.mu.Lock()
	p.answers[key] = cached{allowed: allowed, at: time.Now()}
	p.mu.Unlock()
	return allowed
}
