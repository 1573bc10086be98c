//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/hack/dev/procs"
	"github.com/baton-dev/baton/internal/verification"
	"github.com/baton-dev/baton/test/e2e/framework"
)

// errorRateQuery is the share of 500s the sample app answers for the image
// an Environment's workload runs: what config/dev/app asks too.
const errorRateQuery = `(sum(rate(http_requests_total{namespace="{{.WorkloadNamespace}}",workload="{{.Workload}}",image="{{.Image}}",code=~"5.."}[10s])) or vector(0))
/ sum(rate(http_requests_total{namespace="{{.WorkloadNamespace}}",workload="{{.Workload}}",image="{{.Image}}"}[10s]))`

// prometheusURL is the suite cluster's Prometheus (make dev), which scrapes
// the sample app every second.
func prometheusURL() string { return "http://" + procs.Ports(base).Addr(procs.Prometheus) }

// errorRateCheck asks the suite's Prometheus for the error rate every 2s; it
// breaches above 5% after failureLimit failing results in a row.
func errorRateCheck(failureLimit int32) batonv1alpha1.VerificationCheck {
	return batonv1alpha1.VerificationCheck{
		Name:         "error-rate",
		Interval:     &metav1.Duration{Duration: 2 * time.Second},
		FailureLimit: failureLimit,
		Prometheus: &batonv1alpha1.PrometheusCheck{
			Address: prometheusURL(),
			Query:   errorRateQuery,
			Below:   ptr.To("0.05"),
		},
	}
}

// checkStatus is the status of Environment env's check name, for image.
func checkStatus(g Gomega, env, image, name string) batonv1alpha1.CheckStatus {
	e := getEnv(g, env)
	g.Expect(e.Status.Verification).NotTo(BeNil(), "status.verification of %s", env)
	g.Expect(e.Status.Verification.Image).To(Equal(image))
	for _, c := range e.Status.Verification.Checks {
		if c.Name == name {
			return c
		}
	}
	g.Expect(e.Status.Verification.Checks).To(ContainElement(HaveField("Name", name)))
	return batonv1alpha1.CheckStatus{}
}

var _ = Describe("Verified means it works: checks in the real Prometheus, on the sample app's real traffic", func() {
	It("V1. never verifies an image that serves errors, says why with the value, and verifies the fixed one", func() {
		newEnvironment("v1-staging", func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) {
			s.Verification.SoakTime = &metav1.Duration{Duration: 10 * time.Second}
			s.Verification.Checks = []batonv1alpha1.VerificationCheck{errorRateCheck(1)}
		})
		const bad, good = "registry.example.com/web:1.5-errors", "registry.example.com/web:1.5.1"
		Expect(alice.Create(suiteCtx, promotion("v1-errors", "v1-staging", bad, "the new checkout page"))).To(Succeed())
		waitPhase("v1-errors", batonv1alpha1.PromotionSucceeded, 2*time.Minute)

		// The positive signal: the check has judged this image, from real
		// samples, and failed it.
		var failed batonv1alpha1.CheckStatus
		Eventually(func(g Gomega) {
			failed = checkStatus(g, "v1-staging", bad, "error-rate")
			g.Expect(failed.Verdict).To(Equal(batonv1alpha1.CheckVerdict("Fail")), failed.Message)
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		value, err := strconv.ParseFloat(failed.Value, 64)
		Expect(err).NotTo(HaveOccurred())
		Expect(value).To(BeNumerically(">", 0.05), "3 answers in 10 are 500")
		Expect(failed.Breached).To(BeTrue())
		Expect(failed.Message).To(ContainSubstring("returned " + failed.Value))
		Expect(failed.Message).To(ContainSubstring("threshold < 0.05"))
		Expect(failed.Message).To(ContainSubstring(`workload=\"web\"`), "the message carries the rendered query")

		e := getEnv(Default, "v1-staging")
		verified := apimeta.FindStatusCondition(e.Status.Conditions, batonv1alpha1.VerifiedCondition)
		Expect(verified).NotTo(BeNil())
		Expect(verified.Status).To(Equal(metav1.ConditionFalse))
		Expect(verified.Reason).To(Equal(batonv1alpha1.CheckFailedReason))
		Expect(verified.Message).To(ContainSubstring(bad + " is not verified: check error-rate"))
		GinkgoWriter.Printf("Verified: %s: %s\n", verified.Reason, verified.Message)

		// Three soak times after the check first failed it, it still is not
		// verified, and nothing downstream could take it.
		Consistently(func(g Gomega) {
			e := getEnv(g, "v1-staging")
			g.Expect(e.Status.VerifiedImages).NotTo(ContainElement(HaveField("Image", bad)))
			g.Expect(apimeta.IsStatusConditionTrue(e.Status.Conditions, batonv1alpha1.VerifiedCondition)).To(BeFalse())
		}).WithTimeout(30 * time.Second).WithPolling(time.Second).Should(Succeed())

		// The fix passes the same check for the whole soak.
		Expect(alice.Create(suiteCtx, promotion("v1-fixed", "v1-staging", good, "fix the checkout page"))).To(Succeed())
		waitPhase("v1-fixed", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Eventually(func(g Gomega) {
			e := getEnv(g, "v1-staging")
			g.Expect(e.Status.VerifiedImages).To(ContainElement(HaveField("Image", good)))
			g.Expect(e.Status.VerifiedImages).NotTo(ContainElement(HaveField("Image", bad)))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		passed := checkStatus(Default, "v1-staging", good, "error-rate")
		Expect(passed.Verdict).To(Equal(batonv1alpha1.CheckVerdict("Pass")), passed.Message)
		Expect(passed.Value).To(Equal("0"))
	})

	It("V2. fails a production release that starts serving errors during the watch, and rolls it back by itself", func() {
		newEnvironment("v2-staging", func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) {
			s.Verification.SoakTime = &metav1.Duration{Duration: 5 * time.Second}
			s.Verification.Checks = []batonv1alpha1.VerificationCheck{errorRateCheck(1)}
		})
		newEnvironment("v2-production", func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) {
			s.Upstream = "v2-staging"
			s.Verification.Checks = []batonv1alpha1.VerificationCheck{errorRateCheck(2)}
			s.Rollout.Watch = &metav1.Duration{Duration: 2 * time.Minute}
			s.Rollout.AutoRollback = true
		})
		// It works in staging and errs on production's traffic.
		bad := "registry.example.com/web:1.6-errors-in-" + workloadNS("v2-production")
		Expect(alice.Create(suiteCtx, promotion("v2-staging-16", "v2-staging", bad, "the new search"))).To(Succeed())
		waitPhase("v2-staging-16", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Eventually(func(g Gomega) {
			g.Expect(getEnv(g, "v2-staging").Status.VerifiedImages).To(ContainElement(HaveField("Image", bad)))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())

		Expect(alice.Create(suiteCtx, promotion("v2-16", "v2-production", bad, "ship the new search"))).To(Succeed())
		watching := waitPhase("v2-16", batonv1alpha1.PromotionVerifying, 2*time.Minute)
		Expect(hasReason(watching, batonv1alpha1.WatchingReason)).To(BeTrue(), conditionMessages(watching))
		failed := waitPhase("v2-16", batonv1alpha1.PromotionFailed, 2*time.Minute)
		Expect(hasReason(failed, batonv1alpha1.CheckFailedReason)).To(BeTrue(), conditionMessages(failed))
		Expect(conditionMessages(failed)).To(ContainSubstring("check error-rate"))
		Expect(conditionMessages(failed)).To(ContainSubstring("threshold < 0.05"))
		Expect(conditionMessages(failed)).To(ContainSubstring("v2-16-rollback"))

		back := expectRolledBack("v2-production", "v2-16", bad)

		// How long from the first sample Prometheus holds that breaches
		// the threshold to the rollback Promotion: reported, not asserted.
		first := firstSampleAbove(workloadNS("v2-production"), bad, 0.05, failed.CreationTimestamp.Time)
		fmt.Printf("MEASURED first breaching sample to rollback Promotion created: %s (check interval 2s, failureLimit 2, scrape 1s)\n",
			back.CreationTimestamp.Sub(first).Round(100*time.Millisecond))
	})

	It("V3. runs a job check's smoke Job on kwok for each release: passes a good one, fails and rolls back one whose smoke test fails, quoting its Pod", func() {
		newEnvironment("v3-production", func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) {
			s.Verification.Checks = []batonv1alpha1.VerificationCheck{smokeJobCheck()}
			s.Rollout.Watch = &metav1.Duration{Duration: 20 * time.Second}
			s.Rollout.AutoRollback = true
		})
		const good, bad = "registry.example.com/web:1.7", "registry.example.com/web:1.8-smoke-fails"

		By("a good release: its own Job (revision 2) succeeds, and the Promotion succeeds after the watch")
		Expect(alice.Create(suiteCtx, promotion("v3-good", "v3-production", good, "the new cart"))).To(Succeed())
		succeeded := waitPhase("v3-good", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		passed := checkStatus(Default, "v3-production", good, "smoke")
		Expect(passed.Verdict).To(Equal(batonv1alpha1.CheckVerdict("Pass")), passed.Message)
		Expect(passed.Revision).To(Equal(succeeded.Status.Revision))
		Expect(passed.Job).To(HavePrefix(fmt.Sprintf("v3-production-smoke-r%d-", succeeded.Status.Revision)))
		job := &batchv1.Job{}
		Expect(admin.Get(suiteCtx, types.NamespacedName{Namespace: ns, Name: passed.Job}, job)).To(Succeed())
		Expect(job.Spec.Template.Spec.Containers[0].Env).To(ContainElement(corev1.EnvVar{Name: "BATON_IMAGE", Value: good}))

		By("a release whose smoke test fails: CheckFailed with the Pod's termination message, and an automatic rollback")
		Expect(alice.Create(suiteCtx, promotion("v3-bad", "v3-production", bad, "the newer cart"))).To(Succeed())
		failed := waitPhase("v3-bad", batonv1alpha1.PromotionFailed, 2*time.Minute)
		msg := conditionMessages(failed)
		Expect(hasReason(failed, batonv1alpha1.CheckFailedReason)).To(BeTrue(), msg)
		Expect(msg).To(ContainSubstring(fmt.Sprintf("check smoke: Job v3-production-smoke-r%d-", failed.Status.Revision)))
		Expect(msg).To(ContainSubstring("BackoffLimitExceeded"))
		Expect(msg).To(ContainSubstring("smoke test failed: the image under test ends in -smoke-fails"))
		GinkgoWriter.Printf("Failed: %s\n", msg)
		back := waitPhase("v3-bad-rollback", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Expect(back.Status.Image).To(Equal(good))
		Eventually(func(g Gomega) {
			expectDeployment(g, "v3-production", good)
			g.Expect(getEnv(g, "v3-production").Status.RejectedImages).To(ContainElement(HaveField("Image", bad)))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
	})

	It("V4. refuses mallory's job check: she may edit Environments but not create Jobs, so it would run her Pod with Baton's rights", func() {
		newEnvironment("v4-staging", nil)
		mallory, err := client.New(framework.RestConfig(GinkgoT(), dir, "mallory"), client.Options{Scheme: admin.Scheme()})
		Expect(err).NotTo(HaveOccurred())
		grantMallory("v4-environment-editor", ns, rbacv1.PolicyRule{APIGroups: []string{batonv1alpha1.GroupVersion.Group},
			Resources: []string{"environments"}, ResourceNames: []string{"v4-staging"}, Verbs: []string{"get", "update"}})
		addCheck := func(image string) error {
			e := &batonv1alpha1.Environment{}
			if err := mallory.Get(suiteCtx, types.NamespacedName{Namespace: ns, Name: "v4-staging"}, e); err != nil {
				return err
			}
			c := smokeJobCheck()
			c.Job.Template.Spec.Containers[0].Image = image
			e.Spec.Verification.Checks = []batonv1alpha1.VerificationCheck{c}
			return mallory.Update(suiteCtx, e)
		}
		jobsOf := func(g Gomega) []batchv1.Job {
			jobs := &batchv1.JobList{}
			g.Expect(admin.List(suiteCtx, jobs, client.InNamespace(ns), client.MatchingLabels{verification.JobEnvironmentLabel: "v4-staging"})).To(Succeed())
			return jobs.Items
		}

		err = addCheck("registry.example.com/mallory-miner:1")
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring(`spec.verification.checks[0].job: user "mallory" may not create jobs (group batch) in namespace ` + ns))
		Expect(getEnv(Default, "v4-staging").Spec.Verification.Checks).To(BeEmpty(), "nothing was stored")
		Expect(jobsOf(Default)).To(BeEmpty())

		By("with the right to create Jobs herself, a bad template is refused by the API server's own validation, naming the field")
		grantMallory("v4-job-creator", ns, rbacv1.PolicyRule{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"create"}})
		err = addCheck("")
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.verification.checks[0].job.template.spec.containers[0].image: Required value"))
		Expect(getEnv(Default, "v4-staging").Spec.Verification.Checks).To(BeEmpty())

		By("and a good one is admitted, and its Job runs: the refusal was about the Job right alone")
		Expect(addCheck("registry.example.com/smoke:1")).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(jobsOf(g)).To(HaveLen(1))
			g.Expect(checkStatus(g, "v4-staging", image100, "smoke").Verdict).To(Equal(batonv1alpha1.CheckVerdict("Pass")))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
	})
})

// smokeJobCheck runs a smoke test Job; on kwok it fails when the image
// under test (BATON_IMAGE) ends in -smoke-fails (hack/dev/cluster/stages).
func smokeJobCheck() batonv1alpha1.VerificationCheck {
	return batonv1alpha1.VerificationCheck{Name: "smoke", Job: &batonv1alpha1.JobTemplate{
		ActiveDeadlineSeconds: ptr.To[int64](120),
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "smoke", Image: "registry.example.com/smoke:1",
		}}}},
	}}
}

// firstSampleAbove asks Prometheus, at one-second steps since since, when
// the error rate of image in namespace first went above threshold.
func firstSampleAbove(namespace, image string, threshold float64, since time.Time) time.Time {
	GinkgoHelper()
	c, err := promapi.NewClient(promapi.Config{Address: prometheusURL()})
	Expect(err).NotTo(HaveOccurred())
	q := strings.NewReplacer("{{.WorkloadNamespace}}", namespace, "{{.Workload}}", "web", "{{.Image}}", image).Replace(errorRateQuery)
	ctx, cancel := context.WithTimeout(suiteCtx, 30*time.Second)
	defer cancel()
	v, _, err := promv1.NewAPI(c).QueryRange(ctx, q, promv1.Range{Start: since, End: time.Now(), Step: time.Second})
	Expect(err).NotTo(HaveOccurred())
	m, ok := v.(model.Matrix)
	Expect(ok).To(BeTrue(), "a range query answers a matrix: %v", v)
	for _, s := range m {
		for _, p := range s.Values {
			if float64(p.Value) > threshold {
				return p.Timestamp.Time()
			}
		}
	}
	Fail(fmt.Sprintf("Prometheus holds no sample of %s above %v since %s", q, threshold, since))
	return time.Time{}
}
