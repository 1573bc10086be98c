package plugin

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

var _ = Describe("kubectl promote resume", func() {
	var (
		ctx context.Context
		ns  string
	)
	// paused plays the engine: name failed, and production's autoPromote
	// paused on it (spec.pauseOnFailure).
	paused := func(name string) *batonv1alpha1.Promotion {
		GinkgoHelper()
		engine(ctx, ns, name, batonv1alpha1.PromotionFailed, batonv1alpha1.RolloutFailedReason, "ProgressDeadlineExceeded")
		p := getPromotion(ctx, ns, name)
		env := &batonv1alpha1.Environment{}
		Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "production"}, env)).To(Succeed())
		env.Spec.PauseOnFailure = true
		Expect(admin.Update(ctx, env)).To(Succeed())
		env.Status.AutoPromotePause = &batonv1alpha1.AutoPromotePause{
			Since:     metav1.NewTime(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)),
			Promotion: batonv1alpha1.ObjectRef{Name: p.Name, UID: string(p.UID)},
			Result:    batonv1alpha1.RevisionFailed,
		}
		Expect(admin.Status().Update(ctx, env)).To(Succeed())
		return p
	}
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
		newEnvironments(ctx, ns)
	})

	It("shows the pause in status, and lets bob resume it on the Promotion that caused it, recorded as resumedBy", func() {
		name := promote(ns)
		paused(name)
		res := run("alice", ns, "status", "production")
		Expect(res.code).To(Equal(ExitOK), "%s", res)
		Expect(res.stdout).To(MatchRegexp(`AutoPromote paused:\s+since 2026-12-02T10:00:00Z, Promotion ` + name + ` Failed; resume with kubectl promote resume production`))

		res = run("bob", ns, "resume", "production")
		Expect(res.code).To(Equal(ExitOK), "%s", res)
		Expect(res.stdout).To(Equal(name + "\n"))
		Expect(res.stderr).To(ContainSubstring("Resumed autoPromote in production (paused since 2026-12-02T10:00:00Z by Promotion " + name + ", Failed)"))
		p := getPromotion(ctx, ns, name)
		Expect(p.Spec.Resume).To(BeTrue())
		Expect(p.Spec.ResumedBy.Username).To(Equal("bob"))

		// Asked again before Baton lifted the pause, it says who did.
		res = run("bob", ns, "resume", "production")
		Expect(res.code).To(Equal(ExitOK), "%s", res)
		Expect(res.stderr).To(ContainSubstring("bob already resumed it"))
	})

	It("refuses alice, a promoter, naming the verb, and says so when nothing is paused or the Promotion is gone", func() {
		res := run("bob", ns, "resume", "production")
		Expect(res.code).To(Equal(ExitFailed), "%s", res)
		Expect(res.stderr).To(ContainSubstring(`autoPromote in Environment "production" is not paused: nothing to resume`))

		name := promote(ns)
		paused(name)
		res = run("alice", ns, "resume", "production")
		Expect(res.code).To(Equal(ExitDenied), "%s", res)
		Expect(res.stderr).To(ContainSubstring(`user "alice" may not resume autoPromote in Environment "production": that needs the "resume" verb on environments/production`))
		Expect(res.stderr).To(ContainSubstring("kubectl auth can-i resume environments/production -n " + ns))
		Expect(getPromotion(ctx, ns, name).Spec.Resume).To(BeFalse())

		// Deleted by hand: nobody can resume it; the answer says what lifts the pause.
		Expect(admin.Delete(ctx, getPromotion(ctx, ns, name))).To(Succeed())
		res = run("bob", ns, "resume", "production")
		Expect(res.code).To(Equal(ExitFailed), "%s", res)
		Expect(res.stderr).To(ContainSubstring("Promotion " + name + `, which paused autoPromote in Environment "production", no longer exists`))
		Expect(res.stderr).To(ContainSubstring(`kubectl patch environment production -n ` + ns + ` --subresource=status --type=merge -p '{"status":{"autoPromotePause":null}}'`))
	})
})
