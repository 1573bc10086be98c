//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fluxcd/pkg/gittestserver"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testing/builder"
	"github.com/baton-dev/baton/test/e2e/framework"
)

var _ = Describe("Promotions on the local cluster", func() {
	It("1. rolls staging to alice's image and verifies it after the soak", func() {
		newEnvironment("s1-staging", nil)
		Expect(alice.Create(suiteCtx, promotion("s1-110", "s1-staging", image110, "new checkout"))).To(Succeed())
		done := waitPhase("s1-110", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Expect(done.Spec.RequestedBy.Username).To(Equal("alice"))
		Eventually(func(g Gomega) { expectDeployment(g, "s1-staging", image110) }).WithTimeout(time.Minute).Should(Succeed())
		Eventually(func(g Gomega) {
			e := getEnv(g, "s1-staging")
			g.Expect(e.Status.VerifiedImages).To(ContainElement(HaveField("Image", image110)))
			g.Expect(e.Status.Current.Image).To(Equal(image110))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
	})

	It("2. promotes to production once bob approves, then oncall undoes it (through kubectl promote)", func() {
		newEnvironment("s2-staging", nil)
		newEnvironment("s2-production", func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) {
			s.Upstream = "s2-staging"
			s.Approval.Required = 1
		})
		Expect(alice.Create(suiteCtx, promotion("s2-staging-110", "s2-staging", image110, "new checkout"))).To(Succeed())
		waitPhase("s2-staging-110", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Eventually(func(g Gomega) {
			g.Expect(getEnv(g, "s2-staging").Status.VerifiedImages).To(ContainElement(HaveField("Image", image110)))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())

		// alice promotes staging's verified image with the plugin.
		out, _, err := plugin("alice", "s2-production", "--reason", "ship the new checkout")
		Expect(err).NotTo(HaveOccurred())
		name := strings.TrimSpace(out)
		Expect(name).To(HavePrefix("s2-production-"))
		waiting := waitPhase(name, batonv1alpha1.PromotionWaitingForApproval, time.Minute)
		Expect(waiting.Status.Image).To(Equal(image110))
		Expect(waiting.Spec.RequestedBy.Username).To(Equal("alice"))
		// The gate has judged this generation and counted no approval.
		Eventually(func(g Gomega) {
			p := getPromotion(g, name)
			g.Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
			c := apimeta.FindStatusCondition(p.Status.Conditions, batonv1alpha1.ReadyCondition)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(batonv1alpha1.WaitingForApprovalReason))
			g.Expect(c.ObservedGeneration).To(Equal(p.Generation))
			g.Expect(c.Message).To(ContainSubstring("0 of 1 approval(s) for " + image110))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(getPromotion(g, name).Status.Phase).To(Equal(batonv1alpha1.PromotionWaitingForApproval))
			expectDeployment(g, "s2-production", image100)
		}).WithTimeout(3 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())

		// bob approves with the plugin, naming the Environment.
		out, _, err = plugin("bob", "approve", "s2-production")
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(ContainSubstring("approved by bob"))
		done := waitPhase(name, batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Expect(done.Spec.Approvals).To(HaveLen(1))
		Expect(done.Spec.Approvals[0].Username).To(Equal("bob"))
		Expect(done.Spec.Approvals[0].Image).To(Equal(image110))
		Eventually(func(g Gomega) { expectDeployment(g, "s2-production", image110) }).WithTimeout(time.Minute).Should(Succeed())
		Eventually(func(g Gomega) {
			e := getEnv(g, "s2-production")
			r := revision(g, e, done.Status.Revision)
			g.Expect(r.Revision).To(Equal(int64(2)))
			g.Expect(r.Image).To(Equal(image110))
			g.Expect(r.Result).To(Equal(batonv1alpha1.RevisionResult("Succeeded")))
			g.Expect(r.RequestedBy).To(Equal("alice"))
			g.Expect(r.ApprovedBy).To(Equal([]string{"bob"}))
			g.Expect(r.Rollback).To(BeFalse())
		}).WithTimeout(30 * time.Second).Should(Succeed())

		// oncall undoes it with the plugin: back to revision 1.
		out, _, err = plugin("oncall", "undo", "s2-production", "--reason", "checkout errors")
		Expect(err).NotTo(HaveOccurred())
		undo := strings.TrimSpace(out)
		Expect(undo).To(HavePrefix("s2-production-rollback-"))
		back := waitPhase(undo, batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Expect(back.Spec.RequestedBy.Username).To(Equal("oncall"))
		Eventually(func(g Gomega) { expectDeployment(g, "s2-production", image100) }).WithTimeout(time.Minute).Should(Succeed())
		Eventually(func(g Gomega) {
			r := revision(g, getEnv(g, "s2-production"), back.Status.Revision)
			g.Expect(r.Revision).To(Equal(int64(3)))
			g.Expect(r.Image).To(Equal(image100))
			g.Expect(r.Rollback).To(BeTrue())
			g.Expect(r.RequestedBy).To(Equal("oncall"))
		}).WithTimeout(30 * time.Second).Should(Succeed())
	})

	It("3. rolls a broken image back by itself in production and holds it", func() {
		// Staging runs no Pods, so it cannot catch the broken image: it
		// verifies it, and the failure shows first in production.
		newEnvironment("s3-staging", func(_ *batonv1alpha1.EnvironmentSpec, d *appsv1.Deployment) {
			d.Spec.Replicas = ptr.To[int32](0)
		})
		newEnvironment("s3-production", func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) {
			s.Upstream = "s3-staging"
			s.Rollout.AutoRollback = true
		})
		Expect(alice.Create(suiteCtx, promotion("s3-staging-broken", "s3-staging", imageBroke, "new build"))).To(Succeed())
		waitPhase("s3-staging-broken", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Eventually(func(g Gomega) {
			g.Expect(getEnv(g, "s3-staging").Status.VerifiedImages).To(ContainElement(HaveField("Image", imageBroke)))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())

		// Baton rolls back at once, so the Deployment's ProgressDeadlineExceeded
		// condition is only seen by watching every update of it.
		progressing := watchProgressing("s3-production")
		Expect(alice.Create(suiteCtx, promotion("s3-broken", "s3-production", imageBroke, "this one will not start"))).To(Succeed())
		failed := waitPhase("s3-broken", batonv1alpha1.PromotionFailed, 2*time.Minute)
		Expect(progressing()).To(ContainElement("False/ProgressDeadlineExceeded"))
		Expect(conditionMessages(failed)).To(ContainSubstring("has timed out progressing"))
		Expect(conditionMessages(failed)).To(ContainSubstring("s3-broken-rollback"))

		expectRolledBack("s3-production", "s3-broken", imageBroke)
		Eventually(func(g Gomega) {
			held := apimeta.FindStatusCondition(getEnv(g, "s3-production").Status.Conditions, batonv1alpha1.HeldCondition)
			g.Expect(held).NotTo(BeNil())
			g.Expect(held.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(held.Message).To(ContainSubstring(imageBroke))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())

		// autoPromote does not ship it again: staging's only verified image
		// is the held one.
		e := getEnv(Default, "s3-production")
		e.Spec.AutoPromote = true
		Expect(admin.Update(suiteCtx, e)).To(Succeed())
		// autoPromote has decided for this generation, and says why it
		// promotes nothing.
		Eventually(func(g Gomega) {
			got := getEnv(g, "s3-production")
			c := apimeta.FindStatusCondition(got.Status.Conditions, batonv1alpha1.AutoPromoteCondition)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.ObservedGeneration).To(Equal(e.Generation))
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(c.Reason).To(Equal(batonv1alpha1.ImageRejectedReason))
			g.Expect(c.Message).To(ContainSubstring(imageBroke))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		Consistently(func(g Gomega) {
			list := &batonv1alpha1.PromotionList{}
			g.Expect(carol.List(suiteCtx, list, client.InNamespace(ns))).To(Succeed())
			for _, p := range list.Items {
				if p.Spec.Environment == "s3-production" {
					g.Expect(p.Name).To(BeElementOf("s3-broken", "s3-broken-rollback"))
				}
			}
			expectDeployment(g, "s3-production", image100)
		}).WithTimeout(5 * time.Second).WithPolling(time.Second).Should(Succeed())

		// Shipping it again without saying why is refused, and nothing moves.
		Expect(alice.Create(suiteCtx, promotion("s3-broken-again", "s3-production", imageBroke, ""))).To(Succeed())
		again := waitPhase("s3-broken-again", batonv1alpha1.PromotionFailed, time.Minute)
		Expect(hasReason(again, batonv1alpha1.ImageRejectedReason)).To(BeTrue(), conditionMessages(again))
		Eventually(func(g Gomega) { expectDeployment(g, "s3-production", image100) }).Should(Succeed())
		Expect(getEnv(Default, "s3-production").Status.History).To(HaveLen(3), "adopted, s3-broken, its rollback")
	})

	It("4. runs oncall's rollback ahead of the Promotion alice queued", func() {
		// No autoRollback: the broken rollout holds the lease for its 15 s
		// progress deadline, long enough for alice to queue 1.2.0 behind it
		// and for oncall to roll back. FIFO would run 1.2.0 first.
		newEnvironment("s4-production", nil)
		Expect(alice.Create(suiteCtx, promotion("s4-110", "s4-production", image110, "new checkout"))).To(Succeed())
		waitPhase("s4-110", batonv1alpha1.PromotionSucceeded, 2*time.Minute)

		Expect(alice.Create(suiteCtx, promotion("s4-broken", "s4-production", imageBroke, "will not start"))).To(Succeed())
		waitPhase("s4-broken", batonv1alpha1.PromotionRollingOut, time.Minute)
		Expect(alice.Create(suiteCtx, promotion("s4-120", "s4-production", image120, "next release"))).To(Succeed())
		queued := waitPhase("s4-120", batonv1alpha1.PromotionQueued, 30*time.Second)

		undo := builder.Promotion(ns, "s4-undo").Environment("s4-production").Reason("broken release").Rollback(1).Build()
		Expect(oncall.Create(suiteCtx, undo)).To(Succeed())
		back := waitPhase("s4-undo", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Expect(back.Spec.RequestedBy.Username).To(Equal("oncall"))
		Expect(back.Status.Image).To(Equal(image100))
		// The queue is ordered by (creationTimestamp, name): whether or not
		// both were created within the same second, FIFO would put s4-120
		// before s4-undo.
		Expect(back.CreationTimestamp.Before(&queued.CreationTimestamp)).To(BeFalse(), "alice queued first")
		Expect(queued.Name < back.Name).To(BeTrue())
		superseded := waitPhase("s4-broken", batonv1alpha1.PromotionSuperseded, 30*time.Second)
		Expect(conditionMessages(superseded)).To(ContainSubstring("s4-undo"))

		next := waitPhase("s4-120", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Expect(next.Status.StartedAt).NotTo(BeNil())
		Expect(back.Status.CompletedAt).NotTo(BeNil())
		Expect(next.Status.StartedAt.Time).NotTo(BeTemporally("<", back.Status.CompletedAt.Time), "the rollback went first")
		Expect(next.Status.Revision).To(BeNumerically(">", back.Status.Revision))
		Eventually(func(g Gomega) {
			expectDeployment(g, "s4-production", image120)
			e := getEnv(g, "s4-production")
			r := revision(g, e, back.Status.Revision)
			g.Expect(r.Rollback).To(BeTrue())
			g.Expect(r.Image).To(Equal(image100))
			g.Expect(r.RequestedBy).To(Equal("oncall"))
		}).WithTimeout(time.Minute).Should(Succeed())
	})

	It("5. denies carol's create and approve, naming the verb", func() {
		newEnvironment("s5-production", func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) {
			s.Approval.Required = 1
		})
		Expect(alice.Create(suiteCtx, promotion("s5-110", "s5-production", image110, "new checkout"))).To(Succeed())
		waitPhase("s5-110", batonv1alpha1.PromotionWaitingForApproval, time.Minute)

		// carol is a viewer: RBAC refuses her.
		err := carol.Create(suiteCtx, promotion("s5-carol", "s5-production", image110, "carol"))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring(`cannot create resource "promotions"`))
		_, stderr, err := plugin("carol", "approve", "s5-110")
		Expect(err).To(HaveOccurred())
		Expect(stderr).To(ContainSubstring(`cannot patch resource "promotions"`))

		// Given edit rights on Promotions, she still needs Baton's verbs on
		// the Environment, and the webhook says which.
		Expect(admin.Create(suiteCtx, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-promotions-editor", Namespace: ns},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{batonv1alpha1.GroupVersion.Group},
				Resources: []string{"promotions"}, Verbs: []string{"get", "list", "create", "patch", "update"}}},
		})).To(Succeed())
		binding := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "e2e-carol-promotions-editor", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "e2e-promotions-editor"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "carol"}},
		}
		Expect(admin.Create(suiteCtx, binding)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(admin.Delete(suiteCtx, binding))).To(Succeed()) })
		Eventually(func(g Gomega) {
			err := carol.Create(suiteCtx, promotion("s5-carol", "s5-production", image110, "carol"))
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring(`denied the request: user "carol" may not`))
			g.Expect(err.Error()).To(ContainSubstring(`needs the "promote" verb on environments/s5-production`))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			_, stderr, err := plugin("carol", "approve", "s5-110")
			g.Expect(err).To(HaveOccurred())
			g.Expect(stderr).To(ContainSubstring(`user "carol" may not approve`))
			g.Expect(stderr).To(ContainSubstring(`needs the "approve" verb on environments/s5-production`))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		p := waitPhase("s5-110", batonv1alpha1.PromotionWaitingForApproval, time.Second)
		Expect(p.Spec.Approvals).To(BeEmpty())
		Eventually(func(g Gomega) { expectDeployment(g, "s5-production", image100) }).Should(Succeed())
	})

	It("6. finishes a Promotion exactly once after the manager is SIGKILLed during RollingOut", func() {
		// minReadySeconds makes each of the three surge steps last 5 s, so
		// the rollout is still going when the manager dies.
		newEnvironment("s6-production", func(_ *batonv1alpha1.EnvironmentSpec, d *appsv1.Deployment) {
			d.Spec.MinReadySeconds = 5
		})
		Expect(replicaSets("s6-production")).To(HaveLen(1))
		Expect(alice.Create(suiteCtx, promotion("s6-110", "s6-production", image110, "new checkout"))).To(Succeed())
		waitPhase("s6-110", batonv1alpha1.PromotionRollingOut, time.Minute)
		argv := killManager()
		rolling := waitPhase("s6-110", batonv1alpha1.PromotionRollingOut, time.Second)
		Expect(rolling.Status.Revision).To(Equal(int64(2)))
		d := &appsv1.Deployment{}
		Expect(carol.Get(suiteCtx, types.NamespacedName{Namespace: workloadNS("s6-production"), Name: "web"}, d)).To(Succeed())
		Expect(d.Status.UpdatedReplicas < 3 || d.Status.AvailableReplicas < 3 || d.Status.Replicas > 3).To(BeTrue(),
			"the rollout is still in progress when the manager dies: %+v", d.Status)
		restartManager(argv)

		done := waitPhase("s6-110", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Expect(done.Status.Revision).To(Equal(int64(2)))
		Eventually(func(g Gomega) { expectDeployment(g, "s6-production", image110) }).WithTimeout(time.Minute).Should(Succeed())
		e := getEnv(Default, "s6-production")
		Expect(historyOf(e, "s6-110")).To(HaveLen(1))
		Expect(e.Status.History).To(HaveLen(2), "revision 1 (adopted) and s6-110's")
		Expect(replicaSets("s6-production")).To(HaveLen(2), "exactly one new ReplicaSet")
	})

	It("7. delivers through Git with the identities in the trailers, then waits in RollingOut", func() {
		const user, password = "baton-bot", "e2e-git-password"
		server, err := gittestserver.NewTempGitServer()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { _ = os.RemoveAll(server.Root()) })
		server.Auth(user, password)
		Expect(server.StartHTTP()).To(Succeed())
		DeferCleanup(server.StopHTTP)
		Expect(server.HTTPAddress()).To(HavePrefix("http://127.0.0.1:"))
		fixture := GinkgoT().TempDir()
		Expect(os.MkdirAll(filepath.Join(fixture, "production"), 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(fixture, "production", "kustomization.yaml"), []byte(
			"resources:\n  - deployment.yaml\nimages:\n  - name: registry.example.com/web\n    newTag: 1.0.0\n"), 0o644)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(fixture, "production", "deployment.yaml"), []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"), 0o644)).To(Succeed())
		Expect(server.InitRepo(fixture, "main", "config.git")).To(Succeed())
		repo, err := git.PlainOpen(filepath.Join(server.Root(), "config.git"))
		Expect(err).NotTo(HaveOccurred())
		head := func() plumbing.Hash {
			GinkgoHelper()
			ref, err := repo.Reference(plumbing.NewBranchReferenceName("main"), true)
			Expect(err).NotTo(HaveOccurred())
			return ref.Hash()
		}
		initial := head()

		Expect(admin.Create(suiteCtx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "config-repo-credentials", Namespace: ns},
			Type:       corev1.SecretTypeBasicAuth,
			StringData: map[string]string{"username": user, "password": password},
		})).To(Succeed())
		newEnvironment("s7-production", func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) {
			s.Approval.Required = 1
			s.Delivery = batonv1alpha1.Delivery{Git: &batonv1alpha1.GitDelivery{
				URL: server.HTTPAddress() + "/config.git", Branch: "main", Path: "production",
				Edit:      &batonv1alpha1.ManifestEdit{Kustomize: &batonv1alpha1.KustomizeEdit{ImageName: "registry.example.com/web"}},
				SecretRef: &batonv1alpha1.LocalObjectReference{Name: "config-repo-credentials"},
			}}
		})
		Expect(alice.Create(suiteCtx, promotion("s7-110", "s7-production", image110, "new checkout"))).To(Succeed())
		waitPhase("s7-110", batonv1alpha1.PromotionWaitingForApproval, time.Minute)
		Expect(head()).To(Equal(initial), "nothing is committed before the approval")
		Expect(approve(bob, "s7-110")).To(Succeed())

		p := waitPhase("s7-110", batonv1alpha1.PromotionRollingOut, time.Minute)
		Expect(p.Status.Commit).NotTo(BeEmpty())
		Expect(head().String()).To(Equal(p.Status.Commit))
		commit, err := repo.CommitObject(head())
		Expect(err).NotTo(HaveOccurred())
		Expect(commit.ParentHashes).To(Equal([]plumbing.Hash{initial}), "one commit on top, no force push")
		Expect(commit.Message).To(ContainSubstring("\nBaton-Promotion: web/s7-110\n"))
		Expect(commit.Message).To(ContainSubstring("\nBaton-Promotion-UID: " + string(p.UID) + "\n"))
		Expect(commit.Message).To(ContainSubstring("\nBaton-Revision: " + strconv.FormatInt(p.Status.Revision, 10) + "\n"))
		Expect(commit.Message).To(ContainSubstring("\nPromoted-by: alice\n"))
		Expect(commit.Message).To(ContainSubstring("\nApproved-by: bob\n"))
		Expect(commit.Message).NotTo(ContainSubstring(password))
		file, err := commit.File("production/kustomization.yaml")
		Expect(err).NotTo(HaveOccurred())
		content, err := file.Contents()
		Expect(err).NotTo(HaveOccurred())
		Expect(content).To(ContainSubstring("newTag: 1.1.0"))

		// Nothing applies the commit (no Flux here), so it stays RollingOut
		// and the Deployment keeps its image. The engine has recorded the
		// delivery for this generation, and holds the lease with the
		// revision open.
		Eventually(func(g Gomega) {
			got := getPromotion(g, "s7-110")
			g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
			e := getEnv(g, "s7-production")
			g.Expect(e.Status.ActivePromotion).NotTo(BeNil())
			g.Expect(e.Status.ActivePromotion.Name).To(Equal("s7-110"))
			g.Expect(revision(g, e, got.Status.Revision).Result).To(BeEmpty())
		}).WithTimeout(30 * time.Second).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(getPromotion(g, "s7-110").Status.Phase).To(Equal(batonv1alpha1.PromotionRollingOut))
			expectDeployment(g, "s7-production", image100)
		}).WithTimeout(5 * time.Second).WithPolling(time.Second).Should(Succeed())
		Expect(head()).To(Equal(plumbing.NewHash(p.Status.Commit)), "exactly one commit")
		expectLoopbackOnly(framework.Listeners(GinkgoT(), map[int]string{os.Getpid(): "e2e.test"}))
	})
})

// watchProgressing watches Environment env's Deployment, as carol, until the
// spec ends, and returns what it has seen so far: each Progressing condition
// as "Status/Reason".
func watchProgressing(env string) func() []string {
	GinkgoHelper()
	cs, err := kubernetes.NewForConfig(framework.RestConfig(GinkgoT(), dir, "carol"))
	Expect(err).NotTo(HaveOccurred())
	w, err := cs.AppsV1().Deployments(workloadNS(env)).Watch(suiteCtx, metav1.ListOptions{FieldSelector: "metadata.name=web"})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(w.Stop)
	var mu sync.Mutex
	var seen []string
	go func() {
		defer GinkgoRecover()
		for ev := range w.ResultChan() {
			d, ok := ev.Object.(*appsv1.Deployment)
			if !ok {
				continue
			}
			for _, c := range d.Status.Conditions {
				if c.Type == appsv1.DeploymentProgressing {
					mu.Lock()
					seen = append(seen, string(c.Status)+"/"+c.Reason)
					mu.Unlock()
				}
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

// replicaSets lists the ReplicaSets owned by Environment env's Deployment.
func replicaSets(env string) []appsv1.ReplicaSet {
	GinkgoHelper()
	d := &appsv1.Deployment{}
	Expect(carol.Get(suiteCtx, types.NamespacedName{Namespace: workloadNS(env), Name: "web"}, d)).To(Succeed())
	list := &appsv1.ReplicaSetList{}
	Expect(carol.List(suiteCtx, list, client.InNamespace(workloadNS(env)))).To(Succeed())
	var owned []appsv1.ReplicaSet
	for _, rs := range list.Items {
		if metav1.IsControlledBy(&rs, d) {
			owned = append(owned, rs)
		}
	}
	return owned
}
