package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testenv"
)

// scraper reads the manager's real metrics endpoint over HTTP.
type scraper struct{ url string }

// freeLoopbackAddr is a loopback address no one listens on right now.
func freeLoopbackAddr() string {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return l.Addr().String()
}

func (s scraper) families(g Gomega) map[string]*dto.MetricFamily {
	resp, err := http.Get(s.url)
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	return fams
}

// series is every sample of name whose labels include want.
func series(fams map[string]*dto.MetricFamily, name string, want map[string]string) []*dto.Metric {
	var out []*dto.Metric
	fam, ok := fams[name]
	if !ok {
		return nil
	}
next:
	for _, m := range fam.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}

// value is the one counter or gauge value of name with labels want; 0
// when there is no such series (a counter never incremented).
func value(g Gomega, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	ms := series(fams, name, want)
	g.Expect(len(ms)).To(BeNumerically("<=", 1), "%s%v has %d series", name, want, len(ms))
	if len(ms) == 0 {
		return 0
	}
	if c := ms[0].GetCounter(); c != nil {
		return c.GetValue()
	}
	return ms[0].GetGauge().GetValue()
}

// histogram is the count and sum of the histogram name with labels want.
func histogram(g Gomega, fams map[string]*dto.MetricFamily, name string, want map[string]string) (uint64, float64) {
	ms := series(fams, name, want)
	g.Expect(len(ms)).To(BeNumerically("<=", 1), "%s%v has %d series", name, want, len(ms))
	if len(ms) == 0 {
		return 0, 0
	}
	return ms[0].GetHistogram().GetSampleCount(), ms[0].GetHistogram().GetSampleSum()
}

// logCapture keeps every JSON log line the manager writes.
type logCapture struct{ testenv.LockedBuffer }

// auditLine is the part of an audit line a spec checks.
type auditLine struct {
	Audit       bool     `json:"audit"`
	UID         string   `json:"uid"`
	Environment string   `json:"environment"`
	Kind        string   `json:"kind"`
	From        string   `json:"fromPhase"`
	To          string   `json:"toPhase"`
	RequestedBy string   `json:"requestedBy"`
	ApprovedBy  []string `json:"approvedBy"`
	FromImage   string   `json:"fromImage"`
	ToImage     string   `json:"toImage"`
	Revision    int64    `json:"revision"`
	Reason      string   `json:"reason"`
}

// audits is every audit line of the Promotion with uid, in order.
func (c *logCapture) audits(uid string) []auditLine {
	var out []auditLine
	for _, raw := range strings.Split(c.String(), "\n") {
		if !strings.Contains(raw, `"audit":true`) {
			continue
		}
		var l auditLine
		if json.Unmarshal([]byte(raw), &l) == nil && l.Audit && l.UID == uid {
			out = append(out, l)
		}
	}
	return out
}

// expectAuditChain checks that p's audit lines are exactly one per phase
// change: each starts where the last ended, from creation to final.
func expectAuditChain(logs *logCapture, p *batonv1alpha1.Promotion, final batonv1alpha1.PromotionPhase) []auditLine {
	GinkgoHelper()
	var lines []auditLine
	Eventually(func(g Gomega) {
		lines = logs.audits(string(p.UID))
		g.Expect(lines).NotTo(BeEmpty())
		g.Expect(lines[len(lines)-1].To).To(Equal(string(final)))
	}).Should(Succeed())
	Expect(lines[0].From).To(BeEmpty(), "the first line is the first phase a new Promotion takes")
	for i := 1; i < len(lines); i++ {
		Expect(lines[i].From).To(Equal(lines[i-1].To), "audit lines of %s: %+v", p.Name, lines)
	}
	return lines
}

// observed is a manager's metrics endpoint, on a free loopback port, and
// its JSON log, captured.
type observed struct {
	addr   string
	scrape scraper
	logs   *logCapture
	logger logr.Logger
}

func newObserved() observed {
	GinkgoHelper()
	o := observed{addr: freeLoopbackAddr(), logs: &logCapture{}}
	o.scrape = scraper{url: "http://" + o.addr + "/metrics"}
	o.logger = zap.New(zap.WriteTo(io.MultiWriter(o.logs, GinkgoWriter)), zap.UseDevMode(false))
	return o
}

// options serves the manager's metrics and writes its log there.
func (o observed) options(opts *ctrl.Options) {
	opts.Metrics.BindAddress = o.addr
	opts.Logger = o.logger
}

var _ = Describe("Delivery metrics and the audit trail", func() {
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
		stop = startPromotionManager(nil, engineTuning{options: o.options})
	})
	AfterEach(func() { stop() })

	It("counts a success, a failure, its automatic rollback and a manual rollback on the metrics endpoint, and audits each phase change once", func() {
		s := newStage(ctx, web0, func(e *batonv1alpha1.Environment) { e.Spec.Rollout.AutoRollback = true })
		s.shipToStaging(ctx, web2)
		prod := map[string]string{"namespace": s.ns, "environment": "production"}
		with := func(k, v string) map[string]string {
			m := map[string]string{k: v}
			for kk, vv := range prod {
				m[kk] = vv
			}
			return m
		}

		By("a success, an hour after staging verified the image")
		fakeClock.Step(time.Hour)
		good := s.promoteProduction(ctx, web1)
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(s.staging), s.staging)).To(Succeed())
		var verifiedAt time.Time
		for _, v := range s.staging.Status.VerifiedImages {
			if v.Image == web1 {
				verifiedAt = v.VerifiedAt.Time
			}
		}
		Expect(verifiedAt).NotTo(BeZero(), "staging verified web:1, the image it adopted")

		// Nine minutes: within the rollback's own 10m rollout timeout, which
		// the engine may judge before it sees the rollout complete.
		By("a failed rollout, rolled back by Baton nine minutes later")
		broken := s.promotion(ctx, "production", "broken-", web2, nil)
		expectPhase(ctx, broken, batonv1alpha1.PromotionRollingOut)
		Expect(testenv.RolloutFailed(ctx, k8sClient, s.prodDep, `ReplicaSet "web-production-broken" has timed out progressing.`)).To(Succeed())
		expectPhase(ctx, broken, batonv1alpha1.PromotionFailed)
		undo := &batonv1alpha1.Promotion{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: broken.Name + "-rollback"}, undo)).To(Succeed())
		expectPhase(ctx, undo, batonv1alpha1.PromotionRollingOut)
		fakeClock.Step(9 * time.Minute)
		s.completeRollout(ctx, s.prodDep, web1)
		expectPhase(ctx, undo, batonv1alpha1.PromotionSucceeded)

		By("a manual rollback to revision 1 that takes five minutes")
		manual := s.rollback(ctx, 1)
		expectPhase(ctx, manual, batonv1alpha1.PromotionRollingOut)
		fakeClock.Step(5 * time.Minute)
		s.completeRollout(ctx, s.prodDep, web0)
		expectPhase(ctx, manual, batonv1alpha1.PromotionSucceeded)

		By("scraping the manager's metrics endpoint")
		Eventually(func(g Gomega) {
			fams := scrape.families(g)
			g.Expect(value(g, fams, "baton_promotions_total", with("result", "Succeeded"))).To(Equal(3.0))
			g.Expect(value(g, fams, "baton_promotions_total", with("result", "Failed"))).To(Equal(1.0))
			g.Expect(value(g, fams, "baton_promotions_total", map[string]string{"namespace": s.ns, "environment": "staging", "result": "Succeeded"})).To(Equal(1.0))
			g.Expect(value(g, fams, "baton_rollbacks_total", with("trigger", "auto"))).To(Equal(1.0))
			g.Expect(value(g, fams, "baton_rollbacks_total", with("trigger", "manual"))).To(Equal(1.0))
			// A counter is exported at 0 before its first increment, so
			// that the first one counts in increase(): staging never rolled
			// back, and no Promotion was canceled.
			stagingAuto := map[string]string{"namespace": s.ns, "environment": "staging", "trigger": "auto"}
			g.Expect(series(fams, "baton_rollbacks_total", stagingAuto)).To(HaveLen(1))
			g.Expect(value(g, fams, "baton_rollbacks_total", stagingAuto)).To(BeZero())
			g.Expect(series(fams, "baton_promotions_total", with("result", "Canceled"))).To(HaveLen(1))
			g.Expect(value(g, fams, "baton_promotions_total", with("result", "Canceled"))).To(BeZero())
			g.Expect(value(g, fams, "baton_changes_total", prod)).To(Equal(2.0), "web:1 and web:2; rollbacks are not changes")
			g.Expect(value(g, fams, "baton_change_failures_total", prod)).To(Equal(2.0), "web:2 failed; web:1 was undone by hand")

			n, sum := histogram(g, fams, "baton_lead_time_seconds", prod)
			g.Expect(n).To(Equal(uint64(1)), "only web:1 succeeded as a change")
			g.Expect(sum).To(Equal(good.Status.CompletedAt.Sub(verifiedAt).Seconds()))
			g.Expect(sum).To(BeNumerically(">=", 3600))

			n, sum = histogram(g, fams, "baton_time_to_restore_seconds", prod)
			g.Expect(n).To(Equal(uint64(2)))
			g.Expect(sum).To(Equal((9*time.Minute).Seconds()+(5*time.Minute).Seconds()), "9m from the failure to its rollback's success, 5m for the manual rollback")

			n, _ = histogram(g, fams, "baton_promotion_phase_duration_seconds", with("phase", "RollingOut"))
			g.Expect(n).To(Equal(uint64(4)), "four Promotions rolled out in production")

			g.Expect(series(fams, "baton_environment_info", prod)).To(HaveLen(1), "one series per Environment, replaced on each change")
			g.Expect(value(g, fams, "baton_environment_info", with("image", web0))).To(Equal(1.0))
			g.Expect(series(fams, "baton_environment_info", with("image", web0))[0].Label).To(ContainElement(HaveField("Value", ptrTo(fmt.Sprint(manual.Status.Revision)))))
			g.Expect(value(g, fams, "baton_environment_verified", prod)).To(Equal(1.0))
			g.Expect(series(fams, "baton_environment_active_promotion_started_timestamp_seconds", prod)).To(BeEmpty(), "nothing holds the lease")
		}).Should(Succeed())

		By("reading the audit trail")
		lines := expectAuditChain(logs, good, batonv1alpha1.PromotionSucceeded)
		last := lines[len(lines)-1]
		Expect(last).To(MatchFields(IgnoreExtras, Fields{
			"Environment": Equal("production"), "Kind": Equal("promote"), "RequestedBy": Equal("alice"),
			"FromImage": Equal(web0), "ToImage": Equal(web1), "Revision": Equal(int64(2)), "Reason": Equal(readyReason(good)),
		}))
		failed := expectAuditChain(logs, broken, batonv1alpha1.PromotionFailed)
		Expect(failed[len(failed)-1].Reason).To(Equal(batonv1alpha1.RolloutFailedReason))
		auto := expectAuditChain(logs, undo, batonv1alpha1.PromotionSucceeded)
		Expect(auto[len(auto)-1]).To(MatchFields(IgnoreExtras, Fields{"Kind": Equal("rollback"), "RequestedBy": Equal(ControllerUser), "ToImage": Equal(web1)}))
		byHand := expectAuditChain(logs, manual, batonv1alpha1.PromotionSucceeded)
		Expect(byHand[len(byHand)-1]).To(MatchFields(IgnoreExtras, Fields{"Kind": Equal("rollback"), "RequestedBy": Equal("oncall"), "FromImage": Equal(web1), "ToImage": Equal(web0)}))
		Expect(logs.String()).NotTo(ContainSubstring(string(admissionKey)), "the admission key never reaches the log")
	})
})

func ptrTo[T any](v T) *T { return &v }
