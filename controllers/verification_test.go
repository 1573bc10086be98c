package controllers

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/certs"
	"github.com/baton-dev/baton/internal/testenv"
	"github.com/baton-dev/baton/internal/testing/promtest"
	"github.com/baton-dev/baton/internal/testing/sampleapp"
)

// errorRate is the error ratio of the image the workload runs, as the
// sample app serves it; no traffic gives no sample.
const errorRate = `(sum(rate(http_requests_total{namespace="{{.WorkloadNamespace}}",workload="{{.Workload}}",image="{{.Image}}",code=~"5.."}[10s])) or vector(0))` +
	` / sum(rate(http_requests_total{namespace="{{.WorkloadNamespace}}",workload="{{.Workload}}",image="{{.Image}}"}[10s]))`

const checkInterval = 30 * time.Second

func errorRateCheck(address string) batonv1alpha1.VerificationCheck {
	return batonv1alpha1.VerificationCheck{
		Name: "error-rate", Interval: &metav1.Duration{Duration: checkInterval}, FailureLimit: 1,
		Prometheus: &batonv1alpha1.PrometheusCheck{Address: address, Query: errorRate, Below: ptr.To("0.05")},
	}
}

var _ = Describe("Verification checks against a real Prometheus scraping the sample app", Ordered, func() {
	var (
		ctx     context.Context
		prom    *promtest.Prometheus
		appAddr string
	)
	BeforeAll(func() {
		ctx = context.Background()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		appAddr = l.Addr().String()
		appCtx, stop := context.WithCancel(ctx)
		DeferCleanup(stop)
		go func() {
			defer GinkgoRecover()
			Expect(sampleapp.New().Run(appCtx, testEnv.Config, l, 20)).To(Succeed())
		}()
		prom, err = promtest.Start(GinkgoT().TempDir(), l.Addr().String())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(prom.Stop)
	})

	// evaluateAgain moves the fake clock past the interval and makes the
	// reconciler look, so that the check is due once more.
	evaluateAgain := func(env *batonv1alpha1.Environment) {
		fakeClock.Step(checkInterval)
		poke(ctx, env)
	}
	checkOf := func(g Gomega, env *batonv1alpha1.Environment) batonv1alpha1.CheckStatus {
		got := fetch(g, env)
		g.Expect(got.Status.Verification).NotTo(BeNil())
		g.Expect(got.Status.Verification.Checks).To(HaveLen(1))
		return got.Status.Verification.Checks[0]
	}
	running := func(ns, img string) *appsv1.Deployment {
		GinkgoHelper()
		d := newWorkload(batonv1alpha1.WorkloadKindDeployment, ns, "web", img).Build().(*appsv1.Deployment)
		Expect(k8sClient.Create(ctx, d)).To(Succeed())
		Expect(testenv.RolloutComplete(ctx, k8sClient, d)).To(Succeed())
		return d
	}
	setBehaviour := func(d *appsv1.Deployment, behaviour string) {
		GinkgoHelper()
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(d), d); err != nil {
				return err
			}
			if d.Annotations == nil {
				d.Annotations = map[string]string{}
			}
			d.Annotations[sampleapp.BehaviourAnnotation] = behaviour
			return k8sClient.Update(ctx, d)
		})).To(Succeed())
		Expect(testenv.RolloutComplete(ctx, k8sClient, d)).To(Succeed())
	}

	It("verifies a good image after the soak, and a breach in the middle of the soak starts it again", func() {
		ns := newNamespace(ctx)
		d := running(ns, imageV1)
		env := environment(ns, "staging", batonv1alpha1.WorkloadKindDeployment, "web").Check(errorRateCheck(prom.Address)).Build()
		Expect(k8sClient.Create(ctx, env)).To(Succeed())

		By("soaking once the check passes")
		var firstStreak time.Time
		Eventually(func(g Gomega) {
			evaluateAgain(env)
			got := fetch(g, env)
			expectCondition(g, got, batonv1alpha1.VerifiedCondition, metav1.ConditionUnknown, batonv1alpha1.SoakingReason)
			g.Expect(got.Status.Verification.Checks[0].Verdict).To(Equal(batonv1alpha1.CheckPass), got.Status.Verification.Checks[0].Message)
			g.Expect(got.Status.Verification.HealthySince).NotTo(BeNil())
			firstStreak = got.Status.Verification.HealthySince.Time
		}, time.Minute).Should(Succeed(), "the sample app's first samples reach Prometheus (2 scrapes in the rate window)")

		By("breaching when the app starts serving errors: not verified, the message carries the value and the threshold")
		setBehaviour(d, "errors")
		Eventually(func(g Gomega) {
			evaluateAgain(env)
			got := fetch(g, env)
			c := expectCondition(g, got, batonv1alpha1.VerifiedCondition, metav1.ConditionFalse, batonv1alpha1.CheckFailedReason)
			cs := got.Status.Verification.Checks[0]
			g.Expect(cs.Breached).To(BeTrue())
			v, err := strconv.ParseFloat(cs.Value, 64)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(v).To(BeNumerically(">=", 0.05))
			g.Expect(c.Message).To(And(ContainSubstring("check error-rate"), ContainSubstring("returned "+cs.Value), ContainSubstring("threshold < 0.05"), ContainSubstring(`workload=\"web\"`)))
			g.Expect(got.Status.Verification.HealthySince).To(BeNil())
			g.Expect(got.Status.VerifiedImages).To(BeEmpty())
		}, time.Minute).Should(Succeed())

		By("soaking from the start again once it recovers, and verifying after a whole soak")
		setBehaviour(d, "")
		Eventually(func(g Gomega) {
			evaluateAgain(env)
			got := fetch(g, env)
			expectCondition(g, got, batonv1alpha1.VerifiedCondition, metav1.ConditionUnknown, batonv1alpha1.SoakingReason)
			g.Expect(got.Status.Verification.HealthySince.Time).To(BeTemporally(">", firstStreak))
		}, time.Minute).Should(Succeed())
		// The tail of the errors may still be in the rate window, where the
		// ratio hovers around the threshold: wait until Prometheus sees no
		// error at all, so that the evaluation after the soak passes.
		Eventually(func(g Gomega) {
			c, err := promapi.NewClient(promapi.Config{Address: prom.Address})
			g.Expect(err).NotTo(HaveOccurred())
			q := fmt.Sprintf(`sum(rate(http_requests_total{namespace=%q,code=~"5.."}[10s])) or vector(0)`, ns)
			v, _, err := promv1.NewAPI(c).Query(ctx, q, time.Now())
			g.Expect(err).NotTo(HaveOccurred())
			vec, ok := v.(model.Vector)
			g.Expect(ok && len(vec) == 1).To(BeTrue(), "one sample: %v", v)
			g.Expect(float64(vec[0].Value)).To(BeZero())
		}, time.Minute).Should(Succeed())
		fakeClock.Step(soak)
		poke(ctx, env)
		Eventually(func(g Gomega) {
			got := fetch(g, env)
			expectCondition(g, got, batonv1alpha1.VerifiedCondition, metav1.ConditionTrue, batonv1alpha1.VerifiedReason)
			g.Expect(got.Status.VerifiedImages).To(ContainElement(HaveField("Image", imageV1)))
			g.Expect(checkOf(g, env).Verdict).To(Equal(batonv1alpha1.CheckPass))
		}).Should(Succeed())
	})

	It("never verifies an image that serves errors, whatever the time", func() {
		ns := newNamespace(ctx)
		running(ns, "registry.example.com/web:1.0-errors")
		env := environment(ns, "staging", batonv1alpha1.WorkloadKindDeployment, "web").Check(errorRateCheck(prom.Address)).Build()
		Expect(k8sClient.Create(ctx, env)).To(Succeed())
		Eventually(func(g Gomega) {
			evaluateAgain(env)
			g.Expect(checkOf(g, env).Breached).To(BeTrue())
		}, time.Minute).Should(Succeed())
		for range 3 {
			fakeClock.Step(soak)
			poke(ctx, env)
			Eventually(func(g Gomega) {
				cs := checkOf(g, env)
				g.Expect(cs.LastEvaluated.Time).To(BeTemporally(">=", fakeClock.Now()), "the check was evaluated again")
				got := fetch(g, env)
				c := expectCondition(g, got, batonv1alpha1.VerifiedCondition, metav1.ConditionFalse, batonv1alpha1.CheckFailedReason)
				g.Expect(c.Message).To(ContainSubstring("returned " + cs.Value))
				g.Expect(got.Status.VerifiedImages).To(BeEmpty())
			}).Should(Succeed())
		}
	})

	It("calls a query without samples inconclusive, never a pass", func() {
		ns := newNamespace(ctx)
		running(ns, imageV1)
		check := errorRateCheck(prom.Address)
		check.Prometheus.Query = `sum(rate(no_such_metric_total{workload="{{.Workload}}"}[10s]))`
		env := environment(ns, "staging", batonv1alpha1.WorkloadKindDeployment, "web").SoakTime(0).Check(check).Build()
		Expect(k8sClient.Create(ctx, env)).To(Succeed())
		Eventually(func(g Gomega) {
			got := fetch(g, env)
			c := expectCondition(g, got, batonv1alpha1.VerifiedCondition, metav1.ConditionFalse, batonv1alpha1.CheckInconclusiveReason)
			g.Expect(c.Message).To(ContainSubstring("returned no sample"))
			g.Expect(checkOf(g, env).Verdict).To(Equal(batonv1alpha1.CheckInconclusive))
			g.Expect(got.Status.VerifiedImages).To(BeEmpty(), "soakTime 0 would verify at once without the check")
		}).Should(Succeed())
	})

	DescribeTable("explains a check it cannot evaluate, naming the field, and never verifies nor touches the workload",
		func(mutate func(*batonv1alpha1.PrometheusCheck), reason string, wantMessage string) {
			ns := newNamespace(ctx)
			d := running(ns, imageV1)
			check := errorRateCheck(prom.Address)
			mutate(check.Prometheus)
			env := environment(ns, "staging", batonv1alpha1.WorkloadKindDeployment, "web").SoakTime(0).Check(check).Build()
			Expect(k8sClient.Create(ctx, env)).To(Succeed())
			Eventually(func(g Gomega) {
				got := fetch(g, env)
				c := expectCondition(g, got, batonv1alpha1.VerifiedCondition, metav1.ConditionFalse, reason)
				g.Expect(c.Message).To(ContainSubstring(wantMessage))
				cs := checkOf(g, env)
				g.Expect(cs.Verdict).To(Equal(batonv1alpha1.CheckError))
				g.Expect(cs.Reason).To(Equal(reason))
				g.Expect(got.Status.VerifiedImages).To(BeEmpty())
			}).Should(Succeed())
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
			Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal(imageV1))
		},
		Entry("a query Prometheus cannot parse", func(p *batonv1alpha1.PrometheusCheck) { p.Query = `sum(rate(http_requests_total[10s]` },
			batonv1alpha1.QueryFailedReason, "spec.verification.checks[0].prometheus: Prometheus at"),
		Entry("a template action other than field access", func(p *batonv1alpha1.PrometheusCheck) { p.Query = `up{job="{{printf "%s" .Image}}"}` },
			batonv1alpha1.InvalidCheckReason, "spec.verification.checks[0].prometheus.query: {{printf"),
		Entry("a template field that does not exist", func(p *batonv1alpha1.PrometheusCheck) { p.Query = `up{job="{{.Token}}"}` },
			batonv1alpha1.InvalidCheckReason, "spec.verification.checks[0].prometheus.query: {{.Token}} is not allowed"),
		Entry("a Prometheus that is down", func(p *batonv1alpha1.PrometheusCheck) { p.Address = "http://127.0.0.1:1" },
			batonv1alpha1.PrometheusUnreachableReason, "Prometheus at http://127.0.0.1:1 cannot be reached"),
		Entry("a Secret that does not exist", func(p *batonv1alpha1.PrometheusCheck) {
			p.Address = "https://127.0.0.1:1"
			p.SecretRef = &batonv1alpha1.LocalObjectReference{Name: "prometheus-token"}
		}, batonv1alpha1.InvalidCheckReason, "spec.verification.checks[0].prometheus.secretRef: Secret"),
		Entry("credentials over plain http", func(p *batonv1alpha1.PrometheusCheck) {
			p.SecretRef = &batonv1alpha1.LocalObjectReference{Name: "prometheus-token"}
		}, batonv1alpha1.InvalidCheckReason, "is not https"),
	)

	It("sends credentials only from a Secret meant for them", func() {
		ns := newNamespace(ctx)
		running(ns, imageV1)
		Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"},
			Data: map[string][]byte{"token": []byte("s3cr3t-value")}})).To(Succeed())
		check := errorRateCheck("https://127.0.0.1:1")
		check.Prometheus.SecretRef = &batonv1alpha1.LocalObjectReference{Name: "db"}
		env := environment(ns, "staging", batonv1alpha1.WorkloadKindDeployment, "web").Check(check).Build()
		Expect(k8sClient.Create(ctx, env)).To(Succeed())
		Eventually(func(g Gomega) {
			got := fetch(g, env)
			c := expectCondition(g, got, batonv1alpha1.VerifiedCondition, metav1.ConditionFalse, batonv1alpha1.InvalidCheckReason)
			g.Expect(c.Message).To(ContainSubstring("is neither of type kubernetes.io/basic-auth nor labelled promotion.baton.dev/credentials=true"))
			g.Expect(c.Message).NotTo(ContainSubstring("s3cr3t-value"))
		}).Should(Succeed())
	})

	It("queries a Prometheus behind TLS and basic auth with the Secret's credentials and CA, and never passes a wrong password", func() {
		By("starting a second real Prometheus that serves only https, with a private CA, and only to baton")
		ca, err := certs.NewCA("promtest-ca", time.Hour)
		Expect(err).NotTo(HaveOccurred())
		serving, err := certs.NewServerCert(ca, []string{"127.0.0.1"}, time.Hour)
		Expect(err).NotTo(HaveOccurred())
		const password = "pr0m-Pa55word"
		strict, err := promtest.StartWith(GinkgoT().TempDir(), promtest.Options{TLS: serving, CA: ca.Cert, Username: "baton", Password: password}, appAddr)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(strict.Stop)

		ns := newNamespace(ctx)
		running(ns, imageV1)
		credentials := func(name, pw string) {
			GinkgoHelper()
			Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeBasicAuth,
				Data: map[string][]byte{"username": []byte("baton"), "password": []byte(pw), "ca.crt": ca.Cert}})).To(Succeed())
		}
		credentials("prometheus", password)
		credentials("prometheus-wrong", "guessed-"+password)
		check := errorRateCheck(strict.Address)
		check.Prometheus.SecretRef = &batonv1alpha1.LocalObjectReference{Name: "prometheus-wrong"}
		env := environment(ns, "staging", batonv1alpha1.WorkloadKindDeployment, "web").SoakTime(0).Check(check).Build()
		Expect(k8sClient.Create(ctx, env)).To(Succeed())

		By("refusing a wrong password: Unauthorized, never a pass, and the password in no message")
		Eventually(func(g Gomega) {
			got := fetch(g, env)
			c := expectCondition(g, got, batonv1alpha1.VerifiedCondition, metav1.ConditionFalse, batonv1alpha1.UnauthorizedReason)
			g.Expect(c.Message).To(ContainSubstring("answered 401 Unauthorized: check prometheus.secretRef"))
			g.Expect(c.Message).NotTo(ContainSubstring(password))
			g.Expect(checkOf(g, env).Verdict).To(Equal(batonv1alpha1.CheckError))
			g.Expect(got.Status.VerifiedImages).To(BeEmpty(), "soakTime 0 would verify at once on a pass")
		}).Should(Succeed())

		By("passing with the right Secret, over TLS that trusts only its ca.crt")
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			got := &batonv1alpha1.Environment{}
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(env), got); err != nil {
				return err
			}
			got.Spec.Verification.Checks[0].Prometheus.SecretRef.Name = "prometheus"
			return k8sClient.Update(ctx, got)
		})).To(Succeed())
		Eventually(func(g Gomega) {
			evaluateAgain(env)
			cs := checkOf(g, env)
			g.Expect(cs.Verdict).To(Equal(batonv1alpha1.CheckPass), cs.Message)
			g.Expect(cs.Value).To(Equal("0"))
			g.Expect(fetch(g, env).Status.VerifiedImages).To(ContainElement(HaveField("Image", imageV1)))
		}, time.Minute).Should(Succeed(), "the sample app's samples reach the second Prometheus (2 scrapes in the rate window)")
	})
})

var _ = DescribeTable("The Environment CRD refuses a check spec it can tell is wrong, naming the field",
	func(mutate func(*batonv1alpha1.VerificationCheck), wantMessage string) {
		ctx := context.Background()
		ns := newNamespace(ctx)
		check := errorRateCheck("http://prometheus.example:9090")
		mutate(&check)
		env := environment(ns, "staging", batonv1alpha1.WorkloadKindDeployment, "web").Check(check).Build()
		err := k8sClient.Create(ctx, env)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring(wantMessage))
	},
	Entry("a negative interval", func(c *batonv1alpha1.VerificationCheck) { c.Interval = &metav1.Duration{Duration: -5 * time.Second} },
		"spec.verification.checks[0].interval"),
	Entry("a zero interval", func(c *batonv1alpha1.VerificationCheck) { c.Interval = &metav1.Duration{Duration: 0} },
		"spec.verification.checks[0].interval"),
	Entry("an address that is not http(s)", func(c *batonv1alpha1.VerificationCheck) { c.Prometheus.Address = "prometheus:9090" },
		"spec.verification.checks[0].prometheus.address"),
	Entry("both below and above", func(c *batonv1alpha1.VerificationCheck) { c.Prometheus.Above = ptr.To("1") },
		"exactly one of below or above"),
	Entry("a threshold that is not a number", func(c *batonv1alpha1.VerificationCheck) { c.Prometheus.Below = ptr.To("1%") },
		"spec.verification.checks[0].prometheus.below"),
	Entry("a failureLimit of zero", func(c *batonv1alpha1.VerificationCheck) { c.FailureLimit = -1 },
		"spec.verification.checks[0].failureLimit"),
	Entry("neither prometheus nor job", func(c *batonv1alpha1.VerificationCheck) { c.Prometheus = nil },
		"spec.verification.checks[0]: Invalid value: a check needs exactly one of prometheus or job"),
)
