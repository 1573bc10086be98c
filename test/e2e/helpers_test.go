//go:build e2e

package e2e

import (
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testing/builder"
)

const (
	image100   = "registry.example.com/web:1.0.0"
	image110   = "registry.example.com/web:1.1.0"
	image120   = "registry.example.com/web:1.2.0"
	imageBroke = "registry.example.com/web:broken" // kwok never makes its Pods Ready
)

// workloadNS is the namespace of Environment env's Deployment "web".
func workloadNS(env string) string { return "e2e-" + env }

// newEnvironment creates, as admin, what a platform team would: a namespace
// with a 3-replica Deployment "web" running image100 (progressDeadlineSeconds
// 15, so that a broken image fails fast), authorized for Environment name in
// namespace web, and the Environment itself with a short soak. It waits until
// Baton has adopted the Deployment as revision 1.
func newEnvironment(name string, mutate func(*batonv1alpha1.EnvironmentSpec, *appsv1.Deployment)) {
	GinkgoHelper()
	wns := workloadNS(name)
	Expect(admin.Create(suiteCtx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: wns}})).To(Succeed())
	deploy := builder.Deployment(wns, "web").Replicas(3).Container("web", image100).AuthorizedFor(ns, name).Build()
	deploy.Spec.ProgressDeadlineSeconds = ptr.To[int32](15)
	env := builder.Environment(ns, name).Deployment("web", "web").WorkloadNamespace(wns).Direct().
		SoakTime(2 * time.Second).RolloutTimeout(2 * time.Minute).Build()
	if mutate != nil {
		mutate(&env.Spec, deploy)
	}
	// Created, not applied: no apply field manager owns the image, which
	// direct delivery would refuse to take over (config/dev/app).
	Expect(admin.Create(suiteCtx, deploy)).To(Succeed())
	Eventually(func(g Gomega) { expectDeployment(g, name, image100) }).
		WithTimeout(90 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
	Expect(admin.Create(suiteCtx, env)).To(Succeed())
	Eventually(func(g Gomega) {
		e := getEnv(g, name)
		g.Expect(e.Status.Current).NotTo(BeNil())
		g.Expect(e.Status.Current.Image).To(Equal(image100))
		g.Expect(e.Status.Current.Revision).To(Equal(int64(1)))
	}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
}

// expectDeployment checks that Environment env's Deployment runs image,
// rolled out completely: what `kubectl rollout status` waits for.
func expectDeployment(g Gomega, env, image string) {
	d := &appsv1.Deployment{}
	g.Expect(carol.Get(suiteCtx, types.NamespacedName{Namespace: workloadNS(env), Name: "web"}, d)).To(Succeed())
	g.Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal(image))
	g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
	g.Expect(d.Status.UpdatedReplicas).To(Equal(*d.Spec.Replicas))
	g.Expect(d.Status.AvailableReplicas).To(Equal(*d.Spec.Replicas))
	g.Expect(d.Status.Replicas).To(Equal(*d.Spec.Replicas), "no old Pods left")
}

// getEnv reads an Environment as carol, who may only watch.
func getEnv(g Gomega, name string) *batonv1alpha1.Environment {
	e := &batonv1alpha1.Environment{}
	g.Expect(carol.Get(suiteCtx, types.NamespacedName{Namespace: ns, Name: name}, e)).To(Succeed())
	return e
}

func getPromotion(g Gomega, name string) *batonv1alpha1.Promotion {
	p := &batonv1alpha1.Promotion{}
	g.Expect(carol.Get(suiteCtx, types.NamespacedName{Namespace: ns, Name: name}, p)).To(Succeed())
	return p
}

// waitPhase waits until Promotion name is in phase.
func waitPhase(name string, phase batonv1alpha1.PromotionPhase, timeout time.Duration) *batonv1alpha1.Promotion {
	GinkgoHelper()
	var p *batonv1alpha1.Promotion
	Eventually(func(g Gomega) {
		p = getPromotion(g, name)
		g.Expect(p.Status.Phase).To(Equal(phase), "Promotion %s, conditions: %+v", name, p.Status.Conditions)
	}).WithTimeout(timeout).WithPolling(250 * time.Millisecond).Should(Succeed())
	return p
}

// promotion is a Promotion into env; user creates it with create.
func promotion(name, env, image, reason string) *batonv1alpha1.Promotion {
	return builder.Promotion(ns, name).Environment(env).Image(image).Reason(reason).Build()
}

// approve is what `kubectl promote approve` sends: the webhook fills the
// empty entry with the requester's identity and the resolved image.
func approve(c client.Client, name string) error {
	return c.Patch(suiteCtx, &batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}},
		client.RawPatch(types.JSONPatchType, []byte(`[{"op":"add","path":"/spec/approvals","value":[{}]}]`)))
}

// revision finds revision n in an Environment's history.
func revision(g Gomega, e *batonv1alpha1.Environment, n int64) batonv1alpha1.Revision {
	for _, r := range e.Status.History {
		if r.Revision == n {
			return r
		}
	}
	g.Expect(e.Status.History).To(ContainElement(HaveField("Revision", n)), "revision %d in the history", n)
	return batonv1alpha1.Revision{}
}

// historyOf lists the history entries that Promotion name made.
func historyOf(e *batonv1alpha1.Environment, name string) []batonv1alpha1.Revision {
	var out []batonv1alpha1.Revision
	for _, r := range e.Status.History {
		if r.Promotion != nil && r.Promotion.Name == name {
			out = append(out, r)
		}
	}
	return out
}

// conditionMessages joins the reasons and messages of a Promotion's conditions.
func conditionMessages(p *batonv1alpha1.Promotion) string {
	var b strings.Builder
	for _, c := range p.Status.Conditions {
		b.WriteString(c.Type + "/" + c.Reason + ": " + c.Message + "\n")
	}
	return b.String()
}

func hasReason(p *batonv1alpha1.Promotion, reason string) bool {
	for _, c := range p.Status.Conditions {
		if c.Reason == reason {
			return true
		}
	}
	return false
}

// expectRolledBack waits until failed's automatic rollback (failed +
// "-rollback") has put image100 back in env, and checks what it leaves:
// the Deployment and status.current at image100, bad rejected, and failed's
// history entry Failed. It returns the rollback Promotion.
func expectRolledBack(env, failed, bad string) *batonv1alpha1.Promotion {
	GinkgoHelper()
	back := waitPhase(failed+"-rollback", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
	Expect(back.Spec.Rollback).NotTo(BeNil())
	Expect(back.Status.Image).To(Equal(image100))
	Eventually(func(g Gomega) {
		expectDeployment(g, env, image100)
		e := getEnv(g, env)
		g.Expect(e.Status.Current.Image).To(Equal(image100))
		g.Expect(e.Status.RejectedImages).To(ContainElement(HaveField("Image", bad)))
		g.Expect(historyOf(e, failed)).To(ConsistOf(HaveField("Result", batonv1alpha1.RevisionResult("Failed"))))
	}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
	return back
}
