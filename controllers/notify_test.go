package controllers

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/notify"
)

// hookReceiver is a real HTTP server in the test process that keeps every
// delivery it gets.
type hookReceiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []delivered
	path string
}

type delivered struct {
	header http.Header
	body   []byte
}

func newHookReceiver(path string) *hookReceiver {
	r := &hookReceiver{path: path}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if req.Method != http.MethodPost || req.URL.Path != r.path || req.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "not a notification", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, delivered{header: req.Header.Clone(), body: body})
		r.mu.Unlock()
	}))
	DeferCleanup(r.Close)
	return r
}

func (r *hookReceiver) deliveries() []delivered {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivered(nil), r.got...)
}

// notificationPolicy creates a policy and its Secret in ns.
func notificationPolicy(ctx context.Context, ns, name string, format batonv1alpha1.NotificationFormat, url, key string, selector map[string]string) {
	GinkgoHelper()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-hook", Labels: map[string]string{batonv1alpha1.CredentialsLabel: "true"}},
		Type:       corev1.SecretTypeOpaque,
		StringData: map[string]string{notify.URLKey: url},
	}
	if key != "" {
		secret.StringData[notify.SigningKeyKey] = key
	}
	Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	p := &batonv1alpha1.NotificationPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       batonv1alpha1.NotificationPolicySpec{Format: format, SecretRef: batonv1alpha1.LocalObjectReference{Name: secret.Name}},
	}
	if selector != nil {
		p.Spec.EnvironmentSelector = &metav1.LabelSelector{MatchLabels: selector}
	}
	Expect(k8sClient.Create(ctx, p)).To(Succeed())
}

var _ = Describe("Notifications", func() {
	const signingKey = "a-signing-key-of-at-least-32-bytes!!"
	var (
		ctx    context.Context
		stop   func()
		scrape scraper
		logs   *logCapture
	)
	BeforeEach(func() {
		ctx = context.Background()
		o := newObserved()
		scrape, logs = o.scrape, o.logs
		n := notify.New(testEnv.Client, 100, o.logger.WithName("notify"))
		n.Attempts, n.Backoff, n.Timeout = 3, 20*time.Millisecond, 2*time.Second
		nctx, cancelNotifier := context.WithCancel(ctx)
		go func() { _ = n.Start(nctx) }()
		stopManager := startPromotionManager(nil, engineTuning{
			options: o.options,
			engine: func(r *PromotionReconciler) {
				r.Notifier = n
				r.PromotionLink = "https://console.example.com/k8s/ns/{namespace}/promotion.baton.dev~v1alpha1~Promotion/{name}"
			},
		})
		stop = func() { stopManager(); cancelNotifier() }
	})
	AfterEach(func() { stop() })

	It("sends a signed webhook and a Slack message that link the commit and the Promotion, each to the Environments its policy selects", func() {
		webhook := newHookReceiver("/baton")
		slack := newHookReceiver("/services/T000/B000/secret-path")
		s := newStage(ctx, web0, func(e *batonv1alpha1.Environment) { e.Labels = map[string]string{"tier": "production"} })
		notificationPolicy(ctx, s.ns, "audit-hook", batonv1alpha1.NotificationWebhook, webhook.URL+"/baton", signingKey, nil)
		notificationPolicy(ctx, s.ns, "team-slack", batonv1alpha1.NotificationSlack, slack.URL+"/services/T000/B000/secret-path", "", map[string]string{"tier": "production"})

		s.shipToStaging(ctx, web2)
		good := s.promoteProduction(ctx, web2)

		var events []notify.Event
		Eventually(func(g Gomega) {
			events = nil
			for _, d := range webhook.deliveries() {
				g.Expect(notify.Verify([]byte(signingKey), d.header.Get(notify.TimestampHeader), d.header.Get(notify.SignatureHeader), d.body, time.Now(), 5*time.Minute)).To(Succeed())
				var ev notify.Event
				g.Expect(json.Unmarshal(d.body, &ev)).To(Succeed())
				g.Expect(d.header.Get(notify.EventHeader)).To(Equal("Promotion" + ev.Phase))
				events = append(events, ev)
			}
			g.Expect(events).To(HaveLen(2), "staging's and production's success; no other phase is in the default events")
		}).Should(Succeed())
		Expect(events).To(ContainElement(MatchFields(IgnoreExtras, Fields{
			"Version": Equal(notify.PayloadVersion), "Namespace": Equal(s.ns), "Environment": Equal("production"),
			"Promotion": Equal(good.Name), "UID": Equal(string(good.UID)), "Kind": Equal("promote"),
			"FromPhase": Equal("RollingOut"), "Phase": Equal("Succeeded"), "Image": Equal(web2), "FromImage": Equal(web0),
			"Revision": Equal(good.Status.Revision), "RequestedBy": Equal("alice"), "Reason": Equal(readyReason(good)),
			"PromotionURL": Equal("https://console.example.com/k8s/ns/" + s.ns + "/promotion.baton.dev~v1alpha1~Promotion/" + good.Name),
		})))
		Expect(events).To(ContainElement(HaveField("Environment", "staging")))

		Eventually(func(g Gomega) {
			g.Expect(slack.deliveries()).To(HaveLen(1), "the Slack policy selects production only")
		}).Should(Succeed())
		var msg struct {
			Text   string `json:"text"`
			Blocks []struct {
				Type string `json:"type"`
				Text struct {
					Type string `json:"type"`
					Text string `json:"text"`
				} `json:"text"`
			} `json:"blocks"`
		}
		d := slack.deliveries()[0]
		Expect(d.header.Get(notify.SignatureHeader)).To(BeEmpty(), "Slack's URL is the secret; it takes no signature")
		Expect(json.Unmarshal(d.body, &msg)).To(Succeed())
		Expect(msg.Text).To(Equal(s.ns + "/production: Promotion " + good.Name + " is Succeeded"))
		Expect(msg.Blocks).To(HaveLen(1))
		Expect(msg.Blocks[0].Type).To(Equal("section"))
		Expect(msg.Blocks[0].Text.Type).To(Equal("mrkdwn"))
		Expect(msg.Blocks[0].Text.Text).To(ContainSubstring("Image `" + web2 + "` (was `" + web0 + "`)"))
		Expect(msg.Blocks[0].Text.Text).To(ContainSubstring("Requested by alice"))
		Expect(msg.Blocks[0].Text.Text).To(ContainSubstring("<https://console.example.com/k8s/ns/" + s.ns + "/promotion.baton.dev~v1alpha1~Promotion/" + good.Name + "|Promotion " + good.Name + ">"))

		Eventually(func(g Gomega) {
			fams := scrape.families(g)
			g.Expect(value(g, fams, "baton_notifications_total", map[string]string{"namespace": s.ns, "policy": "audit-hook", "result": "sent"})).To(Equal(2.0))
			g.Expect(value(g, fams, "baton_notifications_total", map[string]string{"namespace": s.ns, "policy": "team-slack", "result": "sent"})).To(Equal(1.0))
		}).Should(Succeed())
		Expect(logs.String()).NotTo(ContainSubstring("secret-path"), "the Slack URL never reaches the log")
		Expect(logs.String()).NotTo(ContainSubstring(signingKey))
	})

	It("goes on with the Promotion when the receiver is down, and counts the retries", func() {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		down := "http://" + l.Addr().String() + "/baton-down-path"
		Expect(l.Close()).To(Succeed())
		s := newStage(ctx, web0, nil)
		notificationPolicy(ctx, s.ns, "down", batonv1alpha1.NotificationWebhook, down, signingKey, nil)

		s.shipToStaging(ctx, web2)
		s.promoteProduction(ctx, web2)

		Eventually(func(g Gomega) {
			fams := scrape.families(g)
			labels := map[string]string{"namespace": s.ns, "policy": "down"}
			g.Expect(value(g, fams, "baton_notification_retries_total", labels)).To(Equal(4.0), "two notifications, each tried 3 times")
			labels["result"] = "failed"
			g.Expect(value(g, fams, "baton_notifications_total", labels)).To(Equal(2.0))
		}).Should(Succeed())
		Expect(logs.String()).To(ContainSubstring("A notification was not delivered"))
		Expect(logs.String()).NotTo(ContainSubstring("baton-down-path"), "the URL never reaches the log")
	})
})
