//go:build e2e

package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/certs"
	"github.com/baton-dev/baton/internal/testing/registrytest"
	"github.com/baton-dev/baton/test/e2e/framework"
)

// registryPortOffset is the port of the suite's OCI registry.
const registryPortOffset = 83

// startRegistry serves a real OCI registry (go-containerregistry's) on a
// port of its own, over TLS with a certificate of the dev cluster's CA,
// which the manager trusts (dev.sh gives it SSL_CERT_FILE), behind basic
// auth.
func startRegistry(user, password string) *registrytest.Server {
	GinkgoHelper()
	caPEM, err := os.ReadFile(filepath.Join(dir, "pki", "ca.crt"))
	Expect(err).NotTo(HaveOccurred())
	keyPEM, err := os.ReadFile(filepath.Join(dir, "pki", "ca.key"))
	Expect(err).NotTo(HaveOccurred())
	serving, err := certs.NewServerCert(certs.KeyPair{Cert: caPEM, Key: keyPEM}, []string{"127.0.0.1"}, 24*time.Hour)
	Expect(err).NotTo(HaveOccurred())
	cert, err := tls.X509KeyPair(serving.Cert, serving.Key)
	Expect(err).NotTo(HaveOccurred())
	roots := x509.NewCertPool()
	Expect(roots.AppendCertsFromPEM(caPEM)).To(BeTrue())
	reg, err := registrytest.NewOn(fmt.Sprintf("127.0.0.1:%d", framework.PortBase(GinkgoT(), registryPortOffset)),
		cert, roots, &authn.Basic{Username: user, Password: password})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(reg.Close)
	return reg
}

var _ = Describe("Digests from a real registry", func() {
	It("pins production to the bytes it resolved and bob approved, though the tag is pushed again (pinDigest)", func() {
		const user, password = "e2e-puller", "reg-e2e-Pa55-4b8d"
		reg := startRegistry(user, password)
		tag := reg.Host() + "/web:2.0.0"
		resolved, err := reg.Push("web:2.0.0")
		Expect(err).NotTo(HaveOccurred())

		newEnvironment("d1-staging", nil)
		newEnvironment("d1-production", func(s *batonv1alpha1.EnvironmentSpec, d *appsv1.Deployment) {
			s.Upstream = "d1-staging"
			s.Approval.Required = 1
			s.Delivery.PinDigest = true
			d.Spec.Template.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "registry-pull"}}
		})
		pull := registrytest.PullSecret(workloadNS("d1-production"), "registry-pull", reg.Host(), user, password)
		Expect(admin.Create(suiteCtx, &pull)).To(Succeed())

		Expect(alice.Create(suiteCtx, promotion("d1-staging-2", "d1-staging", tag, "new checkout"))).To(Succeed())
		waitPhase("d1-staging-2", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Eventually(func(g Gomega) {
			g.Expect(getEnv(g, "d1-staging").Status.VerifiedImages).To(ContainElement(HaveField("Image", tag)))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())

		Expect(alice.Create(suiteCtx, promotion("d1-production-2", "d1-production", "", "ship the checkout"))).To(Succeed())
		waiting := waitPhase("d1-production-2", batonv1alpha1.PromotionWaitingForApproval, time.Minute)
		Expect(waiting.Status.Image).To(Equal(tag))
		Expect(waiting.Status.Digest).To(Equal(resolved), "the registry's digest, asked with the workload's pull secret")

		By("CI pushes the tag again before bob approves")
		repushed, err := reg.Push("web:2.0.0")
		Expect(err).NotTo(HaveOccurred())
		Expect(repushed).NotTo(Equal(resolved))
		Expect(approve(bob, "d1-production-2")).To(Succeed())

		done := waitPhase("d1-production-2", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Expect(done.Spec.Approvals).To(HaveLen(1))
		Expect(done.Spec.Approvals[0].Username).To(Equal("bob"))
		Expect(done.Spec.Approvals[0].Digest).To(Equal(resolved), "the webhook bound bob's approval to the frozen digest")
		Eventually(func(g Gomega) { expectDeployment(g, "d1-production", reg.Host()+"/web@"+resolved) }).
			WithTimeout(time.Minute).Should(Succeed())
		Expect(conditionMessages(done)).NotTo(ContainSubstring(password))
	})

	It("refuses a registry outside --allowed-registry-hosts before any connection, and changes nothing", func() {
		newEnvironment("d2-entry", func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) { s.Delivery.PinDigest = true })
		Expect(alice.Create(suiteCtx, promotion("d2-elsewhere", "d2-entry", "registry.example.com/web:9.9.9", "a registry Baton may not ask"))).To(Succeed())
		failed := waitPhase("d2-elsewhere", batonv1alpha1.PromotionFailed, time.Minute)
		Expect(readyCondition(failed).Reason).To(Equal(batonv1alpha1.HostNotAllowedReason))
		Expect(readyCondition(failed).Message).To(And(ContainSubstring("registry.example.com"), ContainSubstring("--allowed-registry-hosts")))
		Expect(failed.Status.Digest).To(BeEmpty())
		Eventually(func(g Gomega) { expectDeployment(g, "d2-entry", image100) }).WithTimeout(10 * time.Second).Should(Succeed())
	})
})

// kwok's pod-ready-digest stage (hack/dev/cluster/stages) reports
// imageID <image>@<digest> for the containers of a Pod whose template
// carries these annotations, as a kubelet reports the bytes it pulled.
const (
	kwokImageAnnotation  = "kwok.baton.dev/image"
	kwokDigestAnnotation = "kwok.baton.dev/image-digest"
)

// pullsAs makes the nodes of env's Deployment pull digest for image.
func pullsAs(image, digest string) func(*batonv1alpha1.EnvironmentSpec, *appsv1.Deployment) {
	return func(s *batonv1alpha1.EnvironmentSpec, d *appsv1.Deployment) {
		d.Spec.Template.Annotations = map[string]string{kwokImageAnnotation: image, kwokDigestAnnotation: digest}
	}
}

var _ = Describe("The digest the Pods run", func() {
	It("promotes the bytes staging's Pods ran, and fails DigestMismatch where the nodes pull other bytes under the tag", func() {
		verified := "sha256:" + strings.Repeat("5", 64)
		repushed := "sha256:" + strings.Repeat("6", 64)
		newEnvironment("d3-staging", pullsAs(image110, verified))
		newEnvironment("d3-production", func(s *batonv1alpha1.EnvironmentSpec, d *appsv1.Deployment) {
			s.Upstream = "d3-staging"
			pullsAs(image110, verified)(s, d)
		})
		newEnvironment("d3-repushed", func(s *batonv1alpha1.EnvironmentSpec, d *appsv1.Deployment) {
			s.Upstream = "d3-staging"
			s.Rollout.AutoRollback = true
			pullsAs(image110, repushed)(s, d)
		})

		Expect(alice.Create(suiteCtx, promotion("d3-staging-110", "d3-staging", image110, "new checkout"))).To(Succeed())
		waitPhase("d3-staging-110", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Eventually(func(g Gomega) {
			e := getEnv(g, "d3-staging")
			g.Expect(e.Status.Current.Digest).To(Equal(verified), "status.current.digest is the kubelets' imageID")
			g.Expect(e.Status.VerifiedImages).To(ContainElement(And(HaveField("Image", image110), HaveField("Digest", verified))))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())

		By("production's nodes pull the verified bytes: it succeeds")
		Expect(alice.Create(suiteCtx, promotion("d3-production-110", "d3-production", "", "ship the checkout"))).To(Succeed())
		done := waitPhase("d3-production-110", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Expect(done.Status.Image).To(Equal(image110))
		Expect(done.Status.Digest).To(Equal(verified), "frozen from staging's verified image")
		Eventually(func(g Gomega) { g.Expect(getEnv(g, "d3-production").Status.Current.Digest).To(Equal(verified)) }).
			WithTimeout(30 * time.Second).Should(Succeed())

		By("the tag names other bytes on d3-repushed's nodes: DigestMismatch, and autoRollback")
		Expect(alice.Create(suiteCtx, promotion("d3-repushed-110", "d3-repushed", "", "ship the checkout"))).To(Succeed())
		failed := waitPhase("d3-repushed-110", batonv1alpha1.PromotionFailed, 2*time.Minute)
		Expect(readyCondition(failed).Reason).To(Equal(batonv1alpha1.DigestMismatchReason))
		Expect(readyCondition(failed).Message).To(And(ContainSubstring(verified), ContainSubstring(repushed)))
		Eventually(func(g Gomega) { expectDeployment(g, "d3-repushed", image100) }).WithTimeout(2 * time.Minute).Should(Succeed())
		Expect(getEnv(Default, "d3-repushed").Status.VerifiedImages).NotTo(ContainElement(HaveField("Image", image110)))
	})
})

func readyCondition(p *batonv1alpha1.Promotion) metav1.Condition {
	GinkgoHelper()
	c := apimeta.FindStatusCondition(p.Status.Conditions, batonv1alpha1.ReadyCondition)
	Expect(c).NotTo(BeNil())
	return *c
}
