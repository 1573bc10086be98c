package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testing/builder"
)

const (
	verifiedImage = "registry.example.com/web:1.1.0"
	runningImage  = "registry.example.com/web:1.0.0"
)

// session is one user's dashboard, served on 127.0.0.1 by a real http
// server, opened the way the browser opens it: the printed URL, then the
// cookie.
type session struct {
	base string
	http *http.Client
	csrf string
}

func openDashboard(ctx context.Context, user, ns string) *session {
	GinkgoHelper()
	c, err := client.NewWithWatch(users[user], client.Options{Scheme: testEnv.Scheme})
	Expect(err).NotTo(HaveOccurred())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	s, err := NewServer(c, ns, ln.Addr().(*net.TCPAddr).Port, logr.Discard())
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(ctx)
	go s.Run(ctx)
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	DeferCleanup(func() { cancel(); _ = srv.Close() })

	jar, err := cookiejar.New(nil)
	Expect(err).NotTo(HaveOccurred())
	ss := &session{base: "http://" + ln.Addr().String(), http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	resp, err := ss.http.Get(s.URL())
	Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	Expect(resp.Request.URL.RawQuery).To(BeEmpty(), "the redirect drops the token from the address")
	ss.csrf = ss.state().CSRF
	return ss
}

func (ss *session) state() State {
	GinkgoHelper()
	resp, err := ss.http.Get(ss.base + "/api/state")
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	var st State
	Expect(json.NewDecoder(resp.Body).Decode(&st)).To(Succeed())
	return st
}

// post is an action as the page sends it: same Origin, the CSRF header,
// a JSON body.
func (ss *session) post(path, body string) (int, result) {
	GinkgoHelper()
	req, err := http.NewRequest(http.MethodPost, ss.base+path, strings.NewReader(body))
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Origin", ss.base)
	req.Header.Set("X-CSRF-Token", ss.csrf)
	req.Header.Set("Content-Type", "application/json")
	resp, err := ss.http.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	var res result
	Expect(json.NewDecoder(resp.Body).Decode(&res)).To(Succeed())
	return resp.StatusCode, res
}

func environment(st State, name string) Environment {
	GinkgoHelper()
	for _, e := range st.Environments {
		if e.Name == name {
			return e
		}
	}
	Fail("no Environment " + name + " on the page")
	return Environment{}
}

func promotions(ctx context.Context, ns string) []batonv1alpha1.Promotion {
	GinkgoHelper()
	list := &batonv1alpha1.PromotionList{}
	Expect(admin.List(ctx, list, client.InNamespace(ns))).To(Succeed())
	return list.Items
}

// pipeline makes staging (which verified verifiedImage) and production
// (which needs one approval and runs runningImage as revision 1), with the
// status the engine would have written.
func pipeline(ctx context.Context, ns string) {
	GinkgoHelper()
	staging := builder.Environment(ns, "staging").Deployment("web", "web").Direct().Build()
	production := builder.Environment(ns, "production").Upstream("staging").Deployment("web", "web").Direct().RequiredApprovals(1).Build()
	for _, env := range []*batonv1alpha1.Environment{staging, production} {
		Expect(admin.Create(ctx, env)).To(Succeed())
	}
	now := metav1.Now()
	staging.Status.Current = &batonv1alpha1.CurrentImage{Image: verifiedImage, Revision: 2, Since: &now}
	staging.Status.VerifiedImages = []batonv1alpha1.VerifiedImage{{Image: verifiedImage, VerifiedAt: now}}
	apimeta.SetStatusCondition(&staging.Status.Conditions, metav1.Condition{Type: batonv1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: batonv1alpha1.VerifiedReason, Message: "verified"})
	Expect(admin.Status().Update(ctx, staging)).To(Succeed())
	production.Status.Current = &batonv1alpha1.CurrentImage{Image: runningImage, Revision: 1, Since: &now}
	production.Status.History = []batonv1alpha1.Revision{{Revision: 1, Image: runningImage, Result: "Adopted", FinishedAt: &now}}
	Expect(admin.Status().Update(ctx, production)).To(Succeed())
}

var _ = Describe("the dashboard's handlers", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), 2*time.Minute)
		DeferCleanup(cancel)
		ns = newNamespace(ctx)
		pipeline(ctx, ns)
	})

	It("enables exactly the buttons each user's RBAC allows, from SelfSubjectAccessReviews", func() {
		want := map[string]Permissions{
			"alice":  {Promote: true, Cancel: true},
			"bob":    {Approve: true},
			"carol":  {},
			"oncall": {Rollback: true},
		}
		for user, can := range want {
			st := openDashboard(ctx, user, ns).state()
			Expect(st.User).To(Equal(user))
			Expect(st.Namespace).To(Equal(ns))
			Expect(environment(st, "production").Can).To(Equal(can), "%s's buttons", user)
		}
	})

	It("shows the pipeline in order, with what each Environment runs and verified", func() {
		st := openDashboard(ctx, "carol", ns).state()
		Expect(st.Environments).To(HaveLen(2))
		Expect(st.Environments[0].Name).To(Equal("staging"))
		Expect(st.Environments[0].Depth).To(Equal(0))
		Expect(st.Environments[0].Verified).To(ConsistOf(HaveField("Image", verifiedImage)))
		Expect(st.Environments[1].Name).To(Equal("production"))
		Expect(st.Environments[1].Depth).To(Equal(1))
		Expect(st.Environments[1].Image).To(Equal(runningImage))
		Expect(st.Environments[1].History).To(ConsistOf(HaveField("Result", "Adopted")))
		Expect(st.Notes).To(ContainElement(ContainSubstring("you may not list events")), "carol is a viewer without Events")
	})

	It("promotes as alice through the webhook, keeps a <script> reason as text, and streams the change", func() {
		alice := openDashboard(ctx, "alice", ns)
		stream := alice.stream(ctx)
		Eventually(stream).Should(Receive(HaveField("Environments", HaveLen(2))))

		reason := `<script>alert("owned")</script> & <img src=x onerror=alert(1)>`
		body, err := json.Marshal(promoteRequest{Environment: "production", Reason: reason})
		Expect(err).NotTo(HaveOccurred())
		status, res := alice.post("/api/promote", string(body))
		Expect(status).To(Equal(http.StatusOK), "%+v", res)
		Expect(res.Message).To(HavePrefix("Created Promotion production-"))

		items := promotions(ctx, ns)
		Expect(items).To(HaveLen(1))
		Expect(items[0].Spec.RequestedBy.Username).To(Equal("alice"), "the webhook stamped the requester")
		Expect(items[0].Spec.Reason).To(Equal(reason))

		// The live stream brings the new Promotion, with the reason intact
		// as data; the JSON itself carries no markup.
		Eventually(stream).WithTimeout(10 * time.Second).Should(Receive(WithTransform(func(st State) string {
			if q := environment(st, "production").Queued; len(q) == 1 {
				return q[0].Reason
			}
			return ""
		}, Equal(reason))))
		raw := alice.raw("/api/state")
		Expect(raw).NotTo(ContainSubstring("<script>"))
		Expect(raw).To(ContainSubstring(`\u003cscript\u003e`))
	})

	It("shows the refusal in RBAC's or the webhook's words, and creates nothing", func() {
		carol := openDashboard(ctx, "carol", ns)
		status, res := carol.post("/api/promote", `{"environment":"production","reason":"viewer tries"}`)
		Expect(status).To(Equal(http.StatusForbidden))
		Expect(res.Error).To(ContainSubstring(`cannot create resource "promotions"`))
		Expect(res.Error).To(ContainSubstring("kubectl auth can-i promote environments/production"))

		alice := openDashboard(ctx, "alice", ns)
		status, res = alice.post("/api/promote", `{"environment":"production","reason":"ship it"}`)
		Expect(status).To(Equal(http.StatusOK), "%+v", res)
		name := promotions(ctx, ns)[0].Name
		p := &batonv1alpha1.Promotion{}
		Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, p)).To(Succeed())
		p.Status.Phase = batonv1alpha1.PromotionWaitingForApproval
		p.Status.Image = verifiedImage
		Expect(admin.Status().Update(ctx, p)).To(Succeed())

		// alice may patch Promotions but not approve: the webhook says so.
		status, res = alice.post("/api/approve", `{"promotion":"`+name+`"}`)
		Expect(status).To(Equal(http.StatusForbidden))
		Expect(res.Error).To(ContainSubstring("denied the request"))
		Expect(getApprovals(ctx, ns, name)).To(BeEmpty())

		bob := openDashboard(ctx, "bob", ns)
		Expect(environment(bob.state(), "production").Queued).To(ConsistOf(HaveField("Approvable", true)))
		status, res = bob.post("/api/approve", `{"promotion":"`+name+`"}`)
		Expect(status).To(Equal(http.StatusOK), "%+v", res)
		Expect(getApprovals(ctx, ns, name)).To(ConsistOf(HaveField("Username", "bob")))
	})

	It("answers bad input with the field it is about, and creates nothing", func() {
		alice := openDashboard(ctx, "alice", ns)
		cases := []struct {
			path, body, field, says string
		}{
			{"/api/promote", `{"reason":"x"}`, "environment", "required"},
			{"/api/promote", `{"environment":"Bad_Name","reason":"x"}`, "environment", "not a valid name"},
			{"/api/promote", `{"environment":"production"}`, "reason", "required"},
			{"/api/promote", `{"environment":"production","reason":"  "}`, "reason", "required"},
			{"/api/promote", `{"environment":"production","reason":"x","image":"a b"}`, "image", "whitespace"},
			{"/api/promote", `{"environment":"production","reason":"x","requestedBy":"bob"}`, "requestedBy", "unknown field"},
			{"/api/promote", `{"environment":"production","reason":7}`, "reason", "must be a string"},
			{"/api/promote", `[1]`, "body", "not a JSON object"},
			{"/api/undo", `{"environment":"production","toRevision":-1,"reason":"x"}`, "toRevision", "must be 0"},
			{"/api/undo", `{"environment":"production","toRevision":"two","reason":"x"}`, "toRevision", "must be a int64"},
			{"/api/approve", `{}`, "promotion", "required"},
			{"/api/cancel", `{"promotion":"../x"}`, "promotion", "not a valid name"},
		}
		for _, tc := range cases {
			status, res := alice.post(tc.path, tc.body)
			Expect(status).To(Equal(http.StatusBadRequest), "%s %s: %+v", tc.path, tc.body, res)
			Expect(res.Field).To(Equal(tc.field), "%s %s", tc.path, tc.body)
			Expect(res.Error).To(ContainSubstring(tc.says), "%s %s", tc.path, tc.body)
		}
		// What only the Environment can tell is the plugin's own answer.
		status, res := alice.post("/api/promote", `{"environment":"staging","reason":"x"}`)
		Expect(status).To(Equal(http.StatusBadRequest))
		Expect(res.Error).To(ContainSubstring(`Environment "staging" has no upstream`))
		Expect(promotions(ctx, ns)).To(BeEmpty())
	})

	It("refuses an action without the CSRF header or from another Origin, and creates nothing", func() {
		alice := openDashboard(ctx, "alice", ns)
		for name, spoil := range map[string]func(*http.Request){
			"no CSRF header":   func(r *http.Request) { r.Header.Del("X-CSRF-Token") },
			"foreign Origin":   func(r *http.Request) { r.Header.Set("Origin", "http://attacker.example") },
			"rebinding Host":   func(r *http.Request) { r.Host = "attacker.example:" + strings.Split(alice.base, ":")[2] },
			"no cookie":        func(r *http.Request) { r.Header.Del("Cookie") },
			"a form, not JSON": func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") },
		} {
			req, err := http.NewRequest(http.MethodPost, alice.base+"/api/promote", strings.NewReader(`{"environment":"production","reason":"forged"}`))
			Expect(err).NotTo(HaveOccurred())
			req.Header.Set("Origin", alice.base)
			req.Header.Set("X-CSRF-Token", alice.csrf)
			req.Header.Set("Content-Type", "application/json")
			for _, c := range alice.http.Jar.Cookies(req.URL) {
				req.AddCookie(c)
			}
			spoil(req)
			resp, err := http.DefaultTransport.RoundTrip(req)
			Expect(err).NotTo(HaveOccurred())
			_ = resp.Body.Close()
			Expect(resp.StatusCode).To(BeNumerically(">=", 400), name)
		}
		// The same request with everything in place goes through: the
		// refusals above were about what each one spoiled.
		status, res := alice.post("/api/promote", `{"environment":"production","reason":"real"}`)
		Expect(status).To(Equal(http.StatusOK), "%+v", res)
		Expect(promotions(ctx, ns)).To(ConsistOf(HaveField("Spec.Reason", "real")))
	})
})

func getApprovals(ctx context.Context, ns, name string) []batonv1alpha1.Approval {
	GinkgoHelper()
	p := &batonv1alpha1.Promotion{}
	Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, p)).To(Succeed())
	return p.Spec.Approvals
}

func (ss *session) raw(path string) string {
	GinkgoHelper()
	resp, err := ss.http.Get(ss.base + path)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return string(data)
}

// stream reads the server-sent events of the page's live view.
func (ss *session) stream(ctx context.Context) <-chan State {
	GinkgoHelper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ss.base+"/api/events", nil)
	Expect(err).NotTo(HaveOccurred())
	resp, err := (&http.Client{Jar: ss.http.Jar}).Do(req)
	Expect(err).NotTo(HaveOccurred())
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	Expect(resp.Header.Get("Content-Type")).To(Equal("text/event-stream"))
	out := make(chan State, 100)
	go func() {
		defer GinkgoRecover()
		defer func() { _ = resp.Body.Close() }()
		lines := bufio.NewScanner(resp.Body)
		lines.Buffer(make([]byte, 1<<20), 1<<20)
		for lines.Scan() {
			if data, ok := strings.CutPrefix(lines.Text(), "data: "); ok {
				var st State
				if json.Unmarshal([]byte(data), &st) == nil {
					out <- st
				}
			}
		}
	}()
	return out
}
