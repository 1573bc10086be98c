//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	gomegatypes "github.com/onsi/gomega/types"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/testing/builder"
	"github.com/baton-dev/baton/test/e2e/framework"
)

// The real GitOps loop (label "gitops", `make test-e2e-gitops`, docs/flux.md):
// its own `make dev GITOPS=flux` cluster on E2E_PORT_BASE+60..+75, where
// Flux's source-controller and kustomize-controller apply what Baton
// commits to the config repository. It needs the Flux binaries (make
// flux-bins), so it runs only with E2E_GITOPS=1, which the target sets.
const gitopsPortOffset = 60

var _ = Describe("GitOps with Flux", Label("gitops"), Ordered, func() {
	var (
		gdir        string
		gbase       int
		gaddrs      []string
		ctx         context.Context
		gadmin      client.Client
		galice      client.Client
		gbob        client.Client
		configRepo  string
		failedSpecs bool
	)

	BeforeAll(func() {
		if os.Getenv("E2E_GITOPS") != "1" {
			Skip("the GitOps scenarios need Flux (make flux-bins): run them with make test-e2e-gitops")
		}
		t := GinkgoT()
		gbase = framework.PortBase(t, gitopsPortOffset)
		var err error
		gdir, err = os.MkdirTemp("", "baton-e2e-gitops-")
		Expect(err).NotTo(HaveOccurred())
		configRepo = filepath.Join(gdir, "git", "config.git")
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), 20*time.Minute)
		DeferCleanup(cancel)
		DeferCleanup(func() { tearDownCluster(t, gdir, gbase, gaddrs, !failedSpecs, "the GitOps cluster's") })

		failedSpecs = true
		framework.Run(t, ctx, root, nil, "make", "--no-print-directory", "dev", "GITOPS=flux", "DEV_DIR="+gdir, "DEV_PORT_BASE="+strconv.Itoa(gbase))
		failedSpecs = false
		pids := framework.ProcessesUnder(gdir)
		Expect(pids).To(HaveLen(12), "the cluster's five processes, the Git server, Gitea, the manager, Flux's two controllers, the sample app and Prometheus")
		gaddrs = framework.Listeners(t, pids)
		expectLoopbackOnly(gaddrs)

		scheme := runtime.NewScheme()
		Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
		Expect(batonv1alpha1.AddToScheme(scheme)).To(Succeed())
		as := func(user string) client.Client {
			c, err := client.New(framework.RestConfig(t, gdir, user), client.Options{Scheme: scheme})
			Expect(err).NotTo(HaveOccurred())
			return c
		}
		gadmin, galice, gbob = as("admin"), as("alice"), as("bob")

		// Staging verifies in 1s instead of 30s.
		Expect(gadmin.Patch(ctx, &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Name: "staging", Namespace: ns}},
			client.RawPatch(types.MergePatchType, []byte(`{"spec":{"verification":{"soakTime":"1s"}}}`)))).To(Succeed())
	})

	AfterEach(func() {
		if CurrentSpecReport().Failed() {
			failedSpecs = true
		}
	})

	git := func(args ...string) string {
		GinkgoHelper()
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_AUTHOR_NAME=Someone Else", "GIT_AUTHOR_EMAIL=else@example.com",
			"GIT_COMMITTER_NAME=Someone Else", "GIT_COMMITTER_EMAIL=else@example.com")
		out, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "git %s: %s", strings.Join(args, " "), out)
		return strings.TrimSpace(string(out))
	}
	promo := func(name string) *batonv1alpha1.Promotion {
		GinkgoHelper()
		p := &batonv1alpha1.Promotion{}
		Expect(gadmin.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, p)).To(Succeed())
		return p
	}
	waitFor := func(name string, phase batonv1alpha1.PromotionPhase, timeout time.Duration) *batonv1alpha1.Promotion {
		GinkgoHelper()
		var p *batonv1alpha1.Promotion
		Eventually(func(g Gomega) {
			p = &batonv1alpha1.Promotion{}
			g.Expect(gadmin.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, p)).To(Succeed())
			g.Expect(p.Status.Phase).To(Equal(phase), "Promotion %s: %s", name, conditionMessages(p))
		}).WithTimeout(timeout).WithPolling(100 * time.Millisecond).Should(Succeed())
		return p
	}
	deploymentNamed := func(env, name string) *appsv1.Deployment {
		GinkgoHelper()
		d := &appsv1.Deployment{}
		Expect(gadmin.Get(ctx, types.NamespacedName{Namespace: env, Name: name}, d)).To(Succeed())
		return d
	}
	deployment := func(env string) *appsv1.Deployment { return deploymentNamed(env, "web") }
	complete := func(d *appsv1.Deployment) bool {
		r := *d.Spec.Replicas
		return d.Status.ObservedGeneration == d.Generation && d.Status.UpdatedReplicas == r &&
			d.Status.AvailableReplicas == r && d.Status.Replicas == r
	}
	lastApplied := func(name string) string {
		GinkgoHelper()
		k := &unstructured.Unstructured{}
		k.SetAPIVersion("kustomize.toolkit.fluxcd.io/v1")
		k.SetKind("Kustomization")
		Expect(gadmin.Get(ctx, types.NamespacedName{Namespace: "flux-system", Name: name}, k)).To(Succeed())
		rev, _, _ := unstructured.NestedString(k.Object, "status", "lastAppliedRevision")
		return rev
	}
	// imageOwner is the field manager of the Deployment's container image.
	imageOwner := func(d *appsv1.Deployment) []string {
		var owners []string
		for _, m := range d.ManagedFields {
			if m.FieldsV1 != nil && strings.Contains(string(m.FieldsV1.Raw), `"f:image"`) {
				owners = append(owners, m.Manager)
			}
		}
		return owners
	}
	// staged merges a commit into the application repository and waits
	// until staging verified its image.
	staged := func(message string) string {
		GinkgoHelper()
		out := framework.Run(GinkgoT(), ctx, root, []string{"DEV_DIR=" + gdir, "DEV_PORT_BASE=" + strconv.Itoa(gbase)},
			"bash", "hack/dev/merge.sh", message)
		i := strings.Index(out, "staging-src-")
		Expect(i).To(BeNumerically(">=", 0), out)
		name := strings.Fields(out[i:])[0]
		p := waitFor(name, batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Eventually(func(g Gomega) {
			e := &batonv1alpha1.Environment{}
			g.Expect(gadmin.Get(ctx, types.NamespacedName{Namespace: ns, Name: "staging"}, e)).To(Succeed())
			g.Expect(e.Status.VerifiedImages).To(ContainElement(HaveField("Image", p.Status.Image)))
		}).WithTimeout(time.Minute).Should(Succeed())
		return p.Status.Image
	}

	It("1. promotes staging to production through Git; it Succeeds once Flux applied Baton's commit and the rollout completed", func() {
		image := staged("Add the checkout page")
		before := deployment("production").Spec.Template.Spec.Containers[0].Image
		Expect(before).NotTo(Equal(image))

		Expect(galice.Create(ctx, builder.Promotion(ns, "g1-production").Environment("production").Reason("Ship the checkout page").Build())).To(Succeed())
		Eventually(func(g Gomega) { g.Expect(promo("g1-production").Status.Image).To(Equal(image)) }).WithTimeout(time.Minute).Should(Succeed())
		Expect(approve(gbob, "g1-production")).To(Succeed())

		// Sampled until it Succeeds: never Succeeded while the Deployment
		// was not yet complete at the image.
		start := time.Now()
		var p *batonv1alpha1.Promotion
		Eventually(func(g Gomega) {
			p = &batonv1alpha1.Promotion{}
			g.Expect(gadmin.Get(ctx, types.NamespacedName{Namespace: ns, Name: "g1-production"}, p)).To(Succeed())
			g.Expect(p.Status.Phase).NotTo(Equal(batonv1alpha1.PromotionFailed), conditionMessages(p))
			g.Expect(p.Status.Phase).To(Equal(batonv1alpha1.PromotionSucceeded))
		}).WithTimeout(2 * time.Minute).WithPolling(100 * time.Millisecond).Should(Succeed())
		fmt.Printf("MEASURED approve -> production Succeeded through Flux: %s\n", time.Since(start).Round(100*time.Millisecond))
		d := deployment("production")
		Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal(image))
		Expect(complete(d)).To(BeTrue(), "the rollout is complete: %+v", d.Status)
		Expect(imageOwner(d)).To(ConsistOf("kustomize-controller"), "Flux applied the image, not Baton")
		// The worker process type (config/dev/flux/repo/base) moved with
		// web in the same commit, after production's release Job.
		w := deploymentNamed("production", "worker")
		Expect(w.Spec.Template.Spec.Containers[0].Image).To(Equal(image))
		Expect(complete(w)).To(BeTrue(), "the worker's rollout is complete: %+v", w.Status)
		Expect(imageOwner(w)).To(ConsistOf("kustomize-controller"))
		Expect(p.Status.Release).NotTo(BeNil())
		Expect(p.Status.Release.Result).To(Equal(batonv1alpha1.ReleaseSucceeded), "%+v", p.Status.Release)
		Expect(p.Status.Release.FinishedAt).NotTo(BeNil())
		committed, err := time.Parse(time.RFC3339, git("--git-dir", configRepo, "log", "-1", "--format=%cI", p.Status.Commit))
		Expect(err).NotTo(HaveOccurred())
		Expect(committed).NotTo(BeTemporally("<", p.Status.Release.FinishedAt.Time.Truncate(time.Second)), "committed only after the release Job")
		Expect(strings.Fields(git("--git-dir", configRepo, "diff-tree", "--no-commit-id", "--name-only", "-r", p.Status.Commit))).
			To(ConsistOf("production/kustomization.yaml"), "one file, one images: entry, for both workloads")

		Expect(p.Status.Commit).To(MatchRegexp(`^[0-9a-f]{40}$`))
		// delivery.git.requestReconcile (config/dev/flux/environments.yaml)
		// asked Flux to fetch the commit at once, after this approval.
		gr := &unstructured.Unstructured{}
		gr.SetAPIVersion("source.toolkit.fluxcd.io/v1")
		gr.SetKind("GitRepository")
		Expect(gadmin.Get(ctx, types.NamespacedName{Namespace: "flux-system", Name: "config"}, gr)).To(Succeed())
		requested, err := time.Parse(time.RFC3339Nano, gr.GetAnnotations()["reconcile.fluxcd.io/requestedAt"])
		Expect(err).NotTo(HaveOccurred(), "annotations: %v", gr.GetAnnotations())
		Expect(requested).To(BeTemporally(">=", start.Add(-time.Second)))
		Expect(lastApplied("production")).To(Equal("main@sha1:"+p.Status.Commit), "Flux applied exactly Baton's commit")
		Expect(git("--git-dir", configRepo, "rev-parse", "refs/heads/main")).To(Equal(p.Status.Commit))
		tag := image[strings.LastIndex(image, ":")+1:]
		Expect(git("--git-dir", configRepo, "show", p.Status.Commit+":production/kustomization.yaml")).To(haveNewTag(tag))
	})

	It("2. rolls staging back by itself when Flux applies a broken image: the rollback is a commit Flux applies too", func() {
		good := deployment("staging").Spec.Template.Spec.Containers[0].Image
		Expect(galice.Create(ctx, promotion("g2-broken", "staging", "registry.example.com/web:broken", "This one will not start"))).To(Succeed())
		failed := waitFor("g2-broken", batonv1alpha1.PromotionFailed, 2*time.Minute)
		Expect(hasReason(failed, batonv1alpha1.RolloutFailedReason)).To(BeTrue(), conditionMessages(failed))
		Expect(failed.Status.Commit).NotTo(BeEmpty())

		back := waitFor("g2-broken-rollback", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Expect(back.Spec.Rollback).NotTo(BeNil())
		Expect(back.Status.Commit).NotTo(BeEmpty())
		Expect(back.Status.Commit).NotTo(Equal(failed.Status.Commit))
		Expect(git("--git-dir", configRepo, "rev-parse", back.Status.Commit+"^")).To(Equal(failed.Status.Commit), "a forward commit on top of the broken one")
		Expect(git("--git-dir", configRepo, "log", "-1", "--format=%s", back.Status.Commit)).To(HavePrefix("Roll back"))
		Expect(lastApplied("staging")).To(Equal("main@sha1:" + back.Status.Commit))
		d := deployment("staging")
		Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal(good))
		Expect(complete(d)).To(BeTrue(), "%+v", d.Status)
	})

	It("3. keeps an unrelated commit pushed while Baton delivers", func() {
		work := filepath.Join(gdir, "someone-else")
		git("clone", "-q", configRepo, work)
		Expect(os.WriteFile(filepath.Join(work, "NOTES.md"), []byte("Someone else's change\n"), 0o644)).To(Succeed())
		git("-C", work, "add", "NOTES.md")
		git("-C", work, "commit", "-q", "-m", "Unrelated change")
		theirs := git("-C", work, "rev-parse", "HEAD")

		// The push and the Promotion race; whichever lands first, the
		// other goes on top of it.
		pushed := make(chan error, 1)
		go func() {
			defer GinkgoRecover()
			cmd := exec.CommandContext(ctx, "git", "-C", work, "push", "-q", "origin", "HEAD:main")
			cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
			out, err := cmd.CombinedOutput()
			if err != nil {
				err = fmt.Errorf("%w: %s", err, out)
			}
			pushed <- err
		}()
		Expect(galice.Create(ctx, promotion("g3-staging", "staging", "registry.example.com/web:g3", "Alongside someone else's change"))).To(Succeed())
		err := <-pushed
		if err != nil {
			// Baton pushed first: theirs is rejected as a non-fast-forward,
			// as it would be for anyone; they rebase and push again.
			GinkgoWriter.Printf("the unrelated push lost the race: %v\n", err)
			git("-C", work, "pull", "-q", "--rebase", "origin", "main")
			git("-C", work, "push", "-q", "origin", "HEAD:main")
			theirs = git("-C", work, "rev-parse", "HEAD")
		}
		p := waitFor("g3-staging", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		head := git("--git-dir", configRepo, "rev-parse", "refs/heads/main")
		// Both commits are on main, and main has both changes.
		git("--git-dir", configRepo, "merge-base", "--is-ancestor", theirs, head)
		git("--git-dir", configRepo, "merge-base", "--is-ancestor", p.Status.Commit, head)
		Expect(git("--git-dir", configRepo, "show", head+":NOTES.md")).To(Equal("Someone else's change"))
		Expect(git("--git-dir", configRepo, "show", head+":staging/kustomization.yaml")).To(haveNewTag("g3"))
		Eventually(func() string { return lastApplied("staging") }).WithTimeout(time.Minute).Should(Equal("main@sha1:" + head))
		Expect(deployment("staging").Spec.Template.Spec.Containers[0].Image).To(Equal("registry.example.com/web:g3"))
	})

	It("4. fails after rollout.timeout when nothing applies the commit, saying it was pushed but never applied", func() {
		for _, name := range []string{"kustomize-controller", "source-controller"} {
			b, err := os.ReadFile(filepath.Join(gdir, name, "pid"))
			Expect(err).NotTo(HaveOccurred())
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			Expect(err).NotTo(HaveOccurred())
			Expect(syscall.Kill(pid, syscall.SIGTERM)).To(Succeed())
			Eventually(func() bool { return framework.IsZombie(pid) }).WithTimeout(30*time.Second).Should(BeTrue(), "%s stopped", name)
		}
		Expect(gadmin.Patch(ctx, &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Name: "staging", Namespace: ns}},
			client.RawPatch(types.MergePatchType, []byte(`{"spec":{"rollout":{"timeout":"15s","autoRollback":false}}}`)))).To(Succeed())
		before := deployment("staging").Spec.Template.Spec.Containers[0].Image

		start := time.Now()
		Expect(galice.Create(ctx, promotion("g4-staging", "staging", "registry.example.com/web:g4", "Nobody applies this"))).To(Succeed())
		failed := waitFor("g4-staging", batonv1alpha1.PromotionFailed, time.Minute)
		// Not before rollout.timeout (15s), counted from status.deliveredAt,
		// which has a resolution of one second.
		Expect(time.Since(start)).To(BeNumerically(">=", 14*time.Second), "not before rollout.timeout")
		Expect(hasReason(failed, batonv1alpha1.RolloutTimeoutReason)).To(BeTrue(), conditionMessages(failed))
		Expect(failed.Status.Commit).NotTo(BeEmpty())
		Expect(git("--git-dir", configRepo, "rev-parse", "refs/heads/main")).To(Equal(failed.Status.Commit), "the commit was pushed")
		msgs := conditionMessages(failed)
		Expect(msgs).To(ContainSubstring("commit " + failed.Status.Commit[:12] + " was pushed"))
		Expect(msgs).To(ContainSubstring("never applied"))
		Expect(deployment("staging").Spec.Template.Spec.Containers[0].Image).To(Equal(before))
	})
})

// haveNewTag matches a kustomization whose images entry sets newTag to tag.
// A short SHA such as 49e0281 is a number to YAML 1.1, so the editor quotes
// it, and keeps that style for the values written after it: compare the
// value, not the text.
func haveNewTag(tag string) gomegatypes.GomegaMatcher {
	return MatchRegexp(`(?m)^\s*newTag: "?` + regexp.QuoteMeta(tag) + `"?\s*$`)
}
