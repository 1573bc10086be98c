//go:build e2e

package devcluster

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/hack/dev/procs"
	"github.com/baton-dev/baton/internal/testing/giteatest"
)

// TestDevGuide runs `make dev` headlessly on its own ports and directory, then
// walks the guide it prints with the users' kubeconfigs: a commit merged into
// the application repository (hack/dev/merge.sh) deploys to staging with no
// Promotion created by anyone, staging verifies the image, alice promotes it
// to production, bob approves,
// production rolls out; a broken image fails and staging rolls back by
// itself; oncall rolls production back. `make dev` runs twice, to show it is idempotent, and
// `make dev-down` must leave nothing behind.
func TestDevGuide(t *testing.T) {
	g := NewWithT(t)
	root := repoRoot(t)
	binDirs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	dir := t.TempDir()
	base := portBase(t, 20)
	vars := []string{"DEV_DIR=" + dir, "DEV_PORT_BASE=" + strconv.Itoa(base)}
	mkCtx := func(ctx context.Context, target string) {
		run(t, ctx, root, nil, "make", append([]string{"--no-print-directory", target}, vars...)...)
	}
	mk := func(target string) { mkCtx(ctx, target) }
	down := false
	t.Cleanup(func() { // runs after the deferred cancel, so with its own context
		defer killLeftovers(t, dir) // even if the command below fails the test
		if !down {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			mkCtx(ctx, "dev-down")
		}
	})

	start := time.Now()
	mk("dev")
	t.Logf("MEASURED make dev (binaries built, fresh cluster): %s", time.Since(start).Round(100*time.Millisecond))
	start = time.Now()
	mk("dev")
	t.Logf("MEASURED make dev again (everything running): %s", time.Since(start).Round(100*time.Millisecond))

	pids := processesUnder(dir)
	g.Expect(pids).To(HaveLen(10), "the cluster's five processes, the manager, the Git server, Gitea, the sample app and Prometheus")
	addrs := listeners(t, pids)
	t.Logf("MEASURED RSS of the cluster and the manager: %d MiB; listening: %v", rssMiB(pids), addrs)

	ctrllog.SetLogger(logr.Discard()) // the test asserts; the manager's log is in dir/manager
	scheme := runtime.NewScheme()
	g.Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	g.Expect(batonv1alpha1.AddToScheme(scheme)).To(Succeed())
	as := func(user string) client.Client {
		c, err := client.New(restConfig(t, dir, user), client.Options{Scheme: scheme})
		g.Expect(err).NotTo(HaveOccurred())
		return c
	}
	alice, bob, carol := as("alice"), as("bob"), as("carol")
	promotionFile := func(name string) *batonv1alpha1.Promotion {
		b, err := os.ReadFile(filepath.Join(root, "config", "dev", "promotions", name))
		g.Expect(err).NotTo(HaveOccurred())
		p := &batonv1alpha1.Promotion{}
		g.Expect(yaml.UnmarshalStrict(b, p)).To(Succeed())
		return p
	}
	waitPhase := func(name string, phase batonv1alpha1.PromotionPhase, timeout time.Duration) *batonv1alpha1.Promotion {
		p := &batonv1alpha1.Promotion{}
		g.Eventually(func(g Gomega) {
			g.Expect(carol.Get(ctx, types.NamespacedName{Namespace: "web", Name: name}, p)).To(Succeed())
			g.Expect(p.Status.Phase).To(Equal(phase), "conditions: %+v", p.Status.Conditions)
		}).WithTimeout(timeout).WithPolling(500 * time.Millisecond).Should(Succeed())
		return p
	}

	// carol only watches.
	err := carol.Create(ctx, promotionFile("staging-broken.yaml"))
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "carol creating a Promotion: %v", err)

	// merge runs the guide's first step, hack/dev/merge.sh, and returns the
	// commit it pushed and when the script returned.
	shaRE := regexp.MustCompile(`merged ([0-9a-f]{40}) into main`)
	merge := func(args ...string) (string, time.Time) {
		out := run(t, ctx, root, vars, "hack/dev/merge.sh", args...)
		pushed := time.Now()
		m := shaRE.FindStringSubmatch(out)
		g.Expect(m).To(HaveLen(2), "merge.sh output: %s", out)
		return m[1], pushed
	}
	// created waits until the Promotion exists and says how long it took.
	created := func(name string, since time.Time, timeout time.Duration) time.Duration {
		var took time.Duration
		g.Eventually(func() error {
			took = time.Since(since)
			return carol.Get(ctx, types.NamespacedName{Namespace: "web", Name: name}, &batonv1alpha1.Promotion{})
		}).WithTimeout(timeout).WithPolling(50 * time.Millisecond).Should(Succeed())
		return took
	}

	// 1-2. A merge to main deploys to staging: nobody creates a Promotion.
	// The receiver's ping makes Baton read the head at once.
	sha, pushed := merge("Add the checkout page")
	image := "registry.example.com/web:" + sha[:7]
	name := "staging-src-" + sha[:12]
	t.Logf("MEASURED push (with the webhook ping) to Promotion %s created: %s", name, created(name, pushed, 30*time.Second).Round(time.Millisecond))
	staged := waitPhase(name, batonv1alpha1.PromotionSucceeded, 2*time.Minute)
	g.Expect(staged.Spec.Environment).To(Equal("staging"))
	g.Expect(staged.Spec.Image).To(Equal(image))
	g.Expect(staged.Annotations).To(HaveKeyWithValue("promotion.baton.dev/source-commit", sha))
	g.Expect(staged.Annotations).To(HaveKeyWithValue("promotion.baton.dev/source-subject-unverified", "Add the checkout page"))
	g.Expect(staged.Spec.RequestedBy).NotTo(BeNil())
	g.Expect(staged.Spec.RequestedBy.Username).To(Equal("admin"), "the manager's identity in the dev cluster")
	all := &batonv1alpha1.PromotionList{}
	g.Expect(carol.List(ctx, all, client.InNamespace("web"))).To(Succeed())
	for _, p := range all.Items {
		g.Expect(p.Name).To(HavePrefix("staging-src-"), "only Baton created Promotions so far")
		g.Expect(p.Annotations).To(HaveKey("promotion.baton.dev/source-commit"))
	}
	g.Expect(len(all.Items)).To(Equal(2), "the initial commit's and the merge's")
	verifyStart := time.Now()
	g.Eventually(func(g Gomega) {
		env := &batonv1alpha1.Environment{}
		g.Expect(carol.Get(ctx, types.NamespacedName{Namespace: "web", Name: "staging"}, env)).To(Succeed())
		var images []string
		for _, v := range env.Status.VerifiedImages {
			images = append(images, v.Image)
		}
		g.Expect(images).To(ContainElement(image))
	}).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Succeed())
	t.Logf("MEASURED staging verified %s after its Promotion succeeded (soakTime 30s)", time.Since(verifyStart).Round(time.Second))
	// The developer sees it on the commit in Gitea: Baton's statuses, by
	// its own user, the last one the verified success.
	ca, err := os.ReadFile(filepath.Join(dir, "pki", "ca.crt"))
	g.Expect(err).NotTo(HaveOccurred())
	adminPassword, err := os.ReadFile(filepath.Join(dir, "gitea", "admin-password"))
	g.Expect(err).NotTo(HaveOccurred())
	forge := giteatest.Connect("https://"+procs.Ports(base).Addr(procs.Gitea), ca, strings.TrimSpace(string(adminPassword)), filepath.Join(dir, "gitea", "gitea.log"))
	g.Eventually(func(g Gomega) {
		all, err := forge.Statuses("acme/web", sha)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(all).NotTo(BeEmpty())
		for _, st := range all {
			g.Expect(st.Context).To(Equal("baton/staging"))
			g.Expect(st.Creator.Login).To(Equal("baton"))
		}
		last := all[len(all)-1]
		g.Expect(last.State).To(Equal("success"), "%+v", all)
		g.Expect(last.Description).To(Equal("staging: deployed and verified"))
	}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())

	// 3-4. alice promotes to production; it waits for bob, who approves.
	g.Expect(alice.Create(ctx, promotionFile("production-checkout.yaml"))).To(Succeed())
	waiting := waitPhase("production-checkout", batonv1alpha1.PromotionWaitingForApproval, time.Minute)
	g.Expect(waiting.Status.Image).To(Equal(image))
	g.Eventually(func() error { // approving before the image is resolved is refused
		return bob.Patch(ctx, waiting, client.RawPatch(types.JSONPatchType,
			[]byte(`[{"op":"add","path":"/spec/approvals","value":[{}]}]`)))
	}).WithTimeout(30 * time.Second).Should(Succeed())

	// 5. production rolls out.
	done := waitPhase("production-checkout", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
	g.Expect(done.Spec.RequestedBy.Username).To(Equal("alice"))
	g.Expect(done.Spec.Approvals).To(HaveLen(1))
	g.Expect(done.Spec.Approvals[0].Username).To(Equal("bob"))
	g.Expect(done.Spec.Approvals[0].Image).To(Equal(image))
	// The one Promotion ran the release Job, then moved both process types.
	g.Expect(done.Status.Release).NotTo(BeNil())
	g.Expect(done.Status.Release.Result).To(Equal(batonv1alpha1.ReleaseSucceeded), "%+v", done.Status.Release)
	g.Expect(done.Status.Release.Job).To(Equal("production-checkout-release"))
	for _, w := range []struct {
		name     string
		replicas int32
	}{{"web", 3}, {"worker", 2}} {
		deploy := &appsv1.Deployment{}
		g.Eventually(func(g Gomega) {
			g.Expect(carol.Get(ctx, types.NamespacedName{Namespace: "production", Name: w.name}, deploy)).To(Succeed())
			g.Expect(deploy.Spec.Template.Spec.Containers[0].Image).To(Equal(image))
			g.Expect(deploy.Status.UpdatedReplicas).To(Equal(w.replicas))
			g.Expect(deploy.Status.AvailableReplicas).To(Equal(w.replicas))
		}).WithTimeout(time.Minute).Should(Succeed())
	}

	// deployment checks both process types of ns.
	deployment := func(g Gomega, ns, image string) {
		for _, name := range []string{"web", "worker"} {
			d := &appsv1.Deployment{}
			g.Expect(carol.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, d)).To(Succeed())
			g.Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal(image), name)
			g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation), name)
			g.Expect(d.Status.UpdatedReplicas).To(Equal(*d.Spec.Replicas), name)
			g.Expect(d.Status.AvailableReplicas).To(Equal(*d.Spec.Replicas), name)
		}
	}

	// 6. A broken image fails (kwok never makes its Pods Ready) and staging
	// rolls back by itself.
	g.Expect(alice.Create(ctx, promotionFile("staging-broken.yaml"))).To(Succeed())
	waitPhase("staging-broken", batonv1alpha1.PromotionFailed, 2*time.Minute)
	g.Eventually(func(g Gomega) {
		env := &batonv1alpha1.Environment{}
		g.Expect(carol.Get(ctx, types.NamespacedName{Namespace: "web", Name: "staging"}, env)).To(Succeed())
		g.Expect(env.Status.Current).NotTo(BeNil())
		g.Expect(env.Status.Current.Image).To(Equal(image))
		var rejected []string
		for _, r := range env.Status.RejectedImages {
			rejected = append(rejected, r.Image)
		}
		g.Expect(rejected).To(ContainElement("registry.example.com/web:broken"))
		deployment(g, "staging", image)
	}).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Succeed())

	// 7. oncall rolls production back by hand.
	g.Expect(as("oncall").Create(ctx, promotionFile("production-rollback.yaml"))).To(Succeed())
	back := waitPhase("production-rollback", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
	g.Expect(back.Spec.RequestedBy.Username).To(Equal("oncall"))
	g.Eventually(func(g Gomega) { deployment(g, "production", "registry.example.com/web:1.0.0") }).
		WithTimeout(time.Minute).Should(Succeed())

	// Without the webhook ping, the 10s poll (spec.source.git.interval)
	// finds the next merge.
	sha, pushed = merge("--no-hook", "Fix a typo")
	name = "staging-src-" + sha[:12]
	t.Logf("MEASURED push (polling only, interval 10s) to Promotion %s created: %s", name, created(name, pushed, 30*time.Second).Round(time.Millisecond))
	waitPhase(name, batonv1alpha1.PromotionSucceeded, 2*time.Minute)

	// make dev again keeps what Baton did: it never re-applies the images,
	// and the repository keeps its commits, so nothing new is promoted.
	mk("dev")
	g.Expect(carol.List(ctx, all, client.InNamespace("web"))).To(Succeed())
	g.Expect(all.Items).To(HaveLen(7), "the initial commit, 2 merges, production-checkout, staging-broken and its rollback, production-rollback")
	deployment(g, "production", "registry.example.com/web:1.0.0")

	addrs = listeners(t, processesUnder(dir))
	mk("dev-down")
	down = true
	assertAllGone(t, dir, addrs)
}
