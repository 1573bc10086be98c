package plugin

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testenv"
	"github.com/baton-dev/baton/internal/testing/builder"
)

const image = "registry.example.com/web:1.3"

var nameFormat = regexp.MustCompile(`^production-\d{8}-\d{6}-[a-z0-9]{4}$`)

// newEnvironments creates staging, production (upstream staging, one
// approval) and production's Deployment, as a platform admin would.
func newEnvironments(ctx context.Context, ns string) {
	GinkgoHelper()
	for _, env := range []*batonv1alpha1.Environment{
		builder.Environment(ns, "staging").Deployment("web-staging", "web").Direct().Build(),
		builder.Environment(ns, "production").Upstream("staging").Deployment("web", "web").Direct().RequiredApprovals(1).Build(),
	} {
		Expect(admin.Create(ctx, env)).To(Succeed())
	}
	Expect(admin.Create(ctx, builder.Deployment(ns, "web").Replicas(3).Container("web", "registry.example.com/web:1.1").Build())).To(Succeed())
}

func getPromotion(ctx context.Context, ns, name string) *batonv1alpha1.Promotion {
	GinkgoHelper()
	p := &batonv1alpha1.Promotion{}
	Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, p)).To(Succeed())
	return p
}

// engine plays the Promotion engine: it moves a Promotion to phase with the
// Ready condition the engine would write.
func engine(ctx context.Context, ns, name string, phase batonv1alpha1.PromotionPhase, reason, message string) {
	GinkgoHelper()
	p := getPromotion(ctx, ns, name)
	p.Status.Phase = phase
	if p.Status.Image == "" && p.Spec.Rollback == nil {
		p.Status.Image = image
	}
	ready := metav1.ConditionFalse
	if phase == batonv1alpha1.PromotionSucceeded {
		ready = metav1.ConditionTrue
	}
	apimeta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: batonv1alpha1.ReadyCondition, Status: ready, Reason: reason, Message: message})
	Expect(admin.Status().Update(ctx, p)).To(Succeed())
}

// promote runs alice's `kubectl promote production` and returns the name it
// printed.
func promote(ns string, args ...string) string {
	GinkgoHelper()
	res := run("alice", ns, append([]string{"production", "--image", image}, args...)...)
	Expect(res.code).To(Equal(ExitOK), "%s", res)
	name := strings.TrimSpace(res.stdout)
	Expect(name).To(MatchRegexp(nameFormat.String()))
	return name
}

var _ = Describe("kubectl promote", func() {
	var (
		ctx context.Context
		ns  string
	)
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
		newEnvironments(ctx, ns)
	})

	It("lets alice promote and follow it while bob approves, showing approvals and rollout progress", func() {
		follow := start("alice", ns, "production", "--image", image, "--reason", "ship the new checkout", "--wait", "--timeout", "60s")

		var name string
		Eventually(func(g Gomega) {
			list := &batonv1alpha1.PromotionList{}
			g.Expect(admin.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			g.Expect(list.Items).To(HaveLen(1))
			name = list.Items[0].Name
		}).Should(Succeed())
		Expect(name).To(MatchRegexp(nameFormat.String()))
		p := getPromotion(ctx, ns, name)
		Expect(p.Spec.RequestedBy.Username).To(Equal("alice"), "the webhook stamps the real requester")
		Expect(p.Spec.Image).To(Equal(image))
		Expect(p.Spec.Reason).To(Equal("ship the new checkout"))
		Eventually(follow.out).Should(HavePrefix(name + "\n"))

		engine(ctx, ns, name, batonv1alpha1.PromotionWaitingForApproval, batonv1alpha1.WaitingForApprovalReason, "0 of 1 approval(s)")
		Eventually(follow.out).Should(ContainSubstring(
			`WaitingForApproval: 1 more approval(s) (0 of 1 for ` + image + `) from someone with the "approve" verb on environments/production: kubectl promote approve ` + name))

		res := run("bob", ns, "approve", name)
		Expect(res.code).To(Equal(ExitOK), "%s", res)
		Expect(res.stdout).To(Equal(name + " approved by bob for " + image + "\n"))
		p = getPromotion(ctx, ns, name)
		Expect(p.Spec.Approvals).To(HaveLen(1))
		Expect(p.Spec.Approvals[0].Username).To(Equal("bob"))
		Expect(p.Spec.Approvals[0].Image).To(Equal(image))

		deploy := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}
		Expect(testenv.RolloutProgressing(ctx, admin, deploy)).To(Succeed())
		engine(ctx, ns, name, batonv1alpha1.PromotionRollingOut, batonv1alpha1.RolloutInProgressReason, "watching the rollout")
		Eventually(follow.out).Should(ContainSubstring("RollingOut: RolloutInProgress: watching the rollout; 2/3 updated, 0/3 ready"))
		Expect(testenv.RolloutComplete(ctx, admin, deploy)).To(Succeed())
		Eventually(follow.out).Should(ContainSubstring("RollingOut: RolloutInProgress: watching the rollout; 3/3 updated, 3/3 ready"))

		engine(ctx, ns, name, batonv1alpha1.PromotionSucceeded, batonv1alpha1.SucceededReason, `Environment "production" runs `+image)
		Expect(follow.wait()).To(Equal(ExitOK), "stderr: %s", follow.stderr.Contents())
		Expect(follow.out()).To(MatchRegexp(`\[\s*\d+s\] Succeeded: Environment "production" runs ` + regexp.QuoteMeta(image) + `\n$`))
		Expect(string(follow.stderr.Contents())).To(BeEmpty(), "alice may read the Deployment, so nothing degrades")
	})

	It("approves by Environment, refuses to guess between several, and denies carol, dave and self-approval with exit 3", func() {
		first, second := promote(ns), promote(ns)
		Expect(first).NotTo(Equal(second))

		res := run("bob", ns, "approve", "production")
		Expect(res.code).To(Equal(ExitFailed), "%s", res)
		Expect(res.stderr).To(ContainSubstring(`no Promotion into Environment "production" is waiting for approval yet`))
		Expect(res.stderr).To(ContainSubstring("is still Pending"))

		engine(ctx, ns, first, batonv1alpha1.PromotionWaitingForApproval, batonv1alpha1.WaitingForApprovalReason, "0 of 1")
		engine(ctx, ns, second, batonv1alpha1.PromotionWaitingForApproval, batonv1alpha1.WaitingForApprovalReason, "0 of 1")
		res = run("bob", ns, "approve", "production")
		Expect(res.code).To(Equal(ExitUsage), "%s", res)
		Expect(res.stderr).To(ContainSubstring(`2 Promotions into Environment "production" are waiting for approval; approve one by name:`))
		Expect(res.stderr).To(ContainSubstring(first))
		Expect(res.stderr).To(ContainSubstring(second))
		Expect(getPromotion(ctx, ns, first).Spec.Approvals).To(BeEmpty())

		res = run("carol", ns, "approve", first)
		Expect(res.code).To(Equal(ExitDenied), "%s", res)
		Expect(res.stderr).To(ContainSubstring(`user "carol" may not approve a Promotion into Environment "production": that needs the "approve" verb on environments/production`))
		Expect(res.stderr).To(ContainSubstring("kubectl auth can-i approve environments/production -n " + ns))

		res = run("dave", ns, "approve", first)
		Expect(res.code).To(Equal(ExitDenied), "%s", res)
		Expect(res.stderr).To(ContainSubstring(`User "dave" cannot patch resource "promotions"`))
		Expect(res.stderr).To(ContainSubstring(`Approving needs patch on promotions and the "approve" verb on environments/production`))

		res = run("alice", ns, "approve", first)
		Expect(res.code).To(Equal(ExitDenied), "%s", res)
		Expect(res.stderr).To(ContainSubstring("alice requested this Promotion and cannot approve it"))
		Expect(res.stderr).NotTo(ContainSubstring("kubectl auth can-i"), "self-approval is not a missing permission")
		Expect(getPromotion(ctx, ns, first).Spec.Approvals).To(BeEmpty())

		engine(ctx, ns, first, batonv1alpha1.PromotionQueued, batonv1alpha1.QueuedReason, "Waiting for the Environment's lease")
		res = run("bob", ns, "approve", "production")
		Expect(res.code).To(Equal(ExitOK), "%s", res)
		Expect(res.stdout).To(Equal(second + " approved by bob for " + image + "\n"))
		Expect(getPromotion(ctx, ns, second).Spec.Approvals).To(HaveLen(1))
		Expect(getPromotion(ctx, ns, first).Spec.Approvals).To(BeEmpty())
	})

	It("lets oncall undo, and refuses a rollback to alice and to an unknown revision", func() {
		env := &batonv1alpha1.Environment{}
		Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "production"}, env)).To(Succeed())
		env.Status = fixtureEnvironment().Status
		env.Status.ActivePromotion = nil
		Expect(admin.Status().Update(ctx, env)).To(Succeed())

		res := run("oncall", ns, "undo", "production", "--to-revision", "9")
		Expect(res.code).To(Equal(ExitUsage), "%s", res)
		Expect(res.stderr).To(ContainSubstring(`revision 9 is not in the history of Environment "production", which keeps revisions 1, 2, 3, 4, 5`))

		res = run("oncall", ns, "undo", "production", "--to-revision", "2", "--reason", "checkout errors", "-o", "yaml")
		Expect(res.code).To(Equal(ExitOK), "%s", res)
		printed := &batonv1alpha1.Promotion{}
		Expect(yaml.UnmarshalStrict([]byte(res.stdout), printed)).To(Succeed(), res.stdout)
		Expect(printed.Kind).To(Equal("Promotion"))
		Expect(printed.Name).To(MatchRegexp(`^production-rollback-\d{8}-\d{6}-[a-z0-9]{4}$`))
		stored := getPromotion(ctx, ns, printed.Name)
		Expect(stored.Spec.Rollback).To(Equal(&batonv1alpha1.RollbackSpec{ToRevision: 2}))
		Expect(stored.Spec.Reason).To(Equal("checkout errors"))
		Expect(stored.Spec.RequestedBy.Username).To(Equal("oncall"))

		follow := start("oncall", ns, "undo", "production", "--wait", "--timeout", "60s")
		var name string
		Eventually(func() string { name = strings.SplitN(follow.out(), "\n", 2)[0]; return name }).Should(MatchRegexp(`^production-rollback-`))
		Expect(getPromotion(ctx, ns, name).Spec.Rollback).To(Equal(&batonv1alpha1.RollbackSpec{}), "no --to-revision: the previous successful revision")
		engine(ctx, ns, name, batonv1alpha1.PromotionRollingOut, batonv1alpha1.RolloutInProgressReason, "watching the rollout")
		Eventually(follow.out).Should(ContainSubstring("RollingOut: RolloutInProgress: watching the rollout\n"),
			"oncall may not read the Deployment: the line carries no replica counts")
		Eventually(func() string { return string(follow.stderr.Contents()) }).Should(
			ContainSubstring("Note: rollout progress is not shown: cannot read Deployment " + ns + "/web (Forbidden)"))
		engine(ctx, ns, name, batonv1alpha1.PromotionFailed, batonv1alpha1.RolloutFailedReason, "the rollout failed: ProgressDeadlineExceeded")
		Expect(follow.wait()).To(Equal(ExitFailed))
		Expect(follow.out()).To(ContainSubstring("Failed: RolloutFailed: the rollout failed: ProgressDeadlineExceeded"))
		Expect(string(follow.stderr.Contents())).To(ContainSubstring("Promotion " + name + " failed; see `kubectl promote status " + name + "`"))

		res = run("alice", ns, "undo", "production")
		Expect(res.code).To(Equal(ExitDenied), "%s", res)
		Expect(res.stderr).To(ContainSubstring(`that needs the "rollback" verb on environments/production`))
	})

	It("cancels, says who canceled, denies a cancel without the promote verb, and ends --wait with exit 1", func() {
		follow := start("alice", ns, "production", "--image", image, "--wait")
		var name string
		Eventually(func() string { name = strings.SplitN(follow.out(), "\n", 2)[0]; return name }).Should(MatchRegexp(nameFormat.String()))

		res := run("bob", ns, "cancel", name)
		Expect(res.code).To(Equal(ExitDenied), "%s", res)
		Expect(res.stderr).To(ContainSubstring(`that needs the "promote" verb on environments/production`))
		Expect(getPromotion(ctx, ns, name).Spec.Cancel).To(BeFalse())

		res = run("alice", ns, "cancel", name)
		Expect(res.code).To(Equal(ExitOK), "%s", res)
		Expect(res.stdout).To(Equal(name + " cancel requested by alice\n"))
		p := getPromotion(ctx, ns, name)
		Expect(p.Spec.Cancel).To(BeTrue())
		Expect(p.Spec.CanceledBy.Username).To(Equal("alice"))

		engine(ctx, ns, name, batonv1alpha1.PromotionCanceled, batonv1alpha1.CanceledReason, "Canceled by alice before it changed the target")
		Expect(follow.wait()).To(Equal(ExitFailed))
		Expect(string(follow.stderr.Contents())).To(ContainSubstring("Promotion " + name + " was canceled"))

		res = run("alice", ns, "cancel", name)
		Expect(res.code).To(Equal(ExitFailed), "%s", res)
		Expect(res.stderr).To(ContainSubstring("already ended Canceled; there is nothing to cancel"))
	})

	It("refuses to promote an entry Environment without --image, and an Environment that does not exist", func() {
		res := run("alice", ns, "staging")
		Expect(res.code).To(Equal(ExitUsage), "%s", res)
		Expect(res.stderr).To(ContainSubstring(`Environment "staging" has no upstream`))
		Expect(res.stderr).To(ContainSubstring("pass --image IMAGE"))

		res = run("alice", ns, "prod")
		Expect(res.code).To(Equal(ExitFailed), "%s", res)
		Expect(res.stderr).To(ContainSubstring(`Environment "prod" not found in namespace ` + ns))

		list := &batonv1alpha1.PromotionList{}
		Expect(admin.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		Expect(list.Items).To(BeEmpty())
	})

	It("prints history and status from the objects in the API server", func() {
		env := &batonv1alpha1.Environment{}
		Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "production"}, env)).To(Succeed())
		fixture := fixtureEnvironment()
		env.Status = fixture.Status
		Expect(admin.Status().Update(ctx, env)).To(Succeed())

		// Read back through the API server as dave, a viewer, with the
		// formatting tests' clock: the output is the golden file.
		clock := func() time.Time { return now }
		for _, tt := range []struct {
			golden string
			args   []string
		}{
			{"history", []string{"history", "production"}},
			{"history-revision", []string{"history", "production", "--revision", "4"}},
		} {
			out, errOut := &strings.Builder{}, &strings.Builder{}
			Expect(runWith(newUserOptions(out, errOut, clock), "dave", ns, tt.args...)).To(Equal(ExitOK), errOut.String())
			want, err := os.ReadFile(filepath.Join("testdata", tt.golden+".golden"))
			Expect(err).NotTo(HaveOccurred())
			Expect(out.String()).To(Equal(string(want)))
		}

		res := run("dave", ns, "history", "production", "-o", "json")
		Expect(res.code).To(Equal(ExitOK), "%s", res)
		var revisions []batonv1alpha1.Revision
		Expect(json.Unmarshal([]byte(res.stdout), &revisions)).To(Succeed())
		Expect(revisions).To(HaveLen(5))
		Expect(revisions[3].RequestedBy).To(Equal("oncall"))

		res = run("dave", ns, "history", "production", "--revision", "42")
		Expect(res.code).To(Equal(ExitFailed), "%s", res)
		Expect(res.stderr).To(ContainSubstring(`revision 42 is not in the history of Environment "production" (it keeps revisions 1 to 5)`))

		// The active Promotion holds the lease; one waits for approval,
		// one for the lease.
		active := promote(ns)
		env.Status.ActivePromotion = &batonv1alpha1.ObjectRef{Name: active, UID: string(getPromotion(ctx, ns, active).UID)}
		Expect(admin.Status().Update(ctx, env)).To(Succeed())
		engine(ctx, ns, active, batonv1alpha1.PromotionRollingOut, batonv1alpha1.RolloutInProgressReason, "watching the rollout")
		waiting := promote(ns)
		engine(ctx, ns, waiting, batonv1alpha1.PromotionWaitingForApproval, batonv1alpha1.WaitingForApprovalReason, "0 of 1")
		queued := promote(ns)
		engine(ctx, ns, queued, batonv1alpha1.PromotionQueued, batonv1alpha1.QueuedReason,
			"Waiting for Promotion "+active+`, which holds the lease of Environment "production"`)
		done := promote(ns)
		engine(ctx, ns, done, batonv1alpha1.PromotionSucceeded, batonv1alpha1.SucceededReason, "done")

		res = run("dave", ns, "status", "production")
		Expect(res.code).To(Equal(ExitOK), "%s", res)
		Expect(res.stdout).To(MatchRegexp(`Image:\s+registry.example.com/web:1.1\n`))
		Expect(res.stdout).To(MatchRegexp(`Revision:\s+4 \(running for`))
		Expect(res.stdout).To(ContainSubstring("Active Promotion:\n  " + active + "  RollingOut  " + image + "  (requested by alice, "))
		// The queue order is (creationTimestamp, name); the two were likely
		// created within the same second.
		first, second := waiting, queued
		pw, pq := getPromotion(ctx, ns, waiting), getPromotion(ctx, ns, queued)
		if pq.CreationTimestamp.Before(&pw.CreationTimestamp) || (pq.CreationTimestamp.Equal(&pw.CreationTimestamp) && queued < waiting) {
			first, second = queued, waiting
		}
		Expect(res.stdout).To(ContainSubstring("Waiting Promotions (2), in the order Baton takes them:\n  1. " + first + "  "))
		Expect(res.stdout).To(ContainSubstring("  2. " + second + "  "))
		Expect(res.stdout).To(ContainSubstring(". " + waiting + "  WaitingForApproval  " + image))
		Expect(res.stdout).To(ContainSubstring(`1 more approval(s) (0 of 1 for ` + image + `) from someone with the "approve" verb on environments/production: kubectl promote approve ` + waiting))
		Expect(res.stdout).To(ContainSubstring(". " + queued + "  Queued  " + image))
		Expect(res.stdout).To(ContainSubstring("Queued: Waiting for Promotion " + active + `, which holds the lease of Environment "production"`))
		Expect(res.stdout).NotTo(ContainSubstring(done), "finished Promotions are history, not status")

		res = run("dave", ns, "status", "production", "-o", "yaml")
		Expect(res.code).To(Equal(ExitOK), "%s", res)
		var list struct {
			Kind  string `json:"kind"`
			Items []struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			} `json:"items"`
		}
		Expect(yaml.Unmarshal([]byte(res.stdout), &list)).To(Succeed())
		Expect(list.Kind).To(Equal("List"))
		var kinds []string
		for _, it := range list.Items {
			kinds = append(kinds, it.Kind+"/"+it.Metadata.Name)
		}
		Expect(kinds).To(HaveLen(4))
		Expect(kinds[0]).To(Equal("Environment/production"))
		Expect(kinds[1:]).To(ConsistOf("Promotion/"+active, "Promotion/"+waiting, "Promotion/"+queued), "the unfinished Promotions, not %s", done)

		res = run("dave", ns, "status", waiting)
		Expect(res.code).To(Equal(ExitOK), "%s", res)
		Expect(res.stdout).To(MatchRegexp(`Phase:\s+WaitingForApproval\n`))
		Expect(res.stdout).To(MatchRegexp(`Requested by:\s+alice`))
		Expect(res.stdout).To(MatchRegexp(`Waiting for:\s+1 more approval\(s\)`))

		res = run("dave", ns, "status", "nothing-here")
		Expect(res.code).To(Equal(ExitFailed), "%s", res)
		Expect(res.stderr).To(ContainSubstring(`there is no Environment nor Promotion named "nothing-here" in namespace ` + ns))
	})
})
