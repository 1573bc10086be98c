package identity_test

import (
	"context"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// warnings records what the API server warns a client about, as kubectl
// prints it.
type warnings struct {
	mu   sync.Mutex
	seen []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.seen
	w.seen = nil
	return out
}

// A spec.deployWindows that finds no DeployWindow holds every Promotion
// (WindowNotFound). The Environment is admitted (GitOps may apply it before
// its window), with a warning that names the field, at once.
var _ = Describe("An Environment whose deploy windows select nothing", Ordered, func() {
	ctx := context.Background()
	var (
		ns     string
		c      client.Client
		warned *warnings
	)
	BeforeAll(func() {
		var err error
		ns, err = testEnv.BindUsers(ctx, "windows-", nil)
		Expect(err).NotTo(HaveOccurred())
		waitWebhookActive(ctx, ns)
		warned = &warnings{}
		cfg := rest.CopyConfig(testEnv.Config)
		cfg.WarningHandler = warned
		c, err = client.New(cfg, client.Options{Scheme: testEnv.Scheme})
		Expect(err).NotTo(HaveOccurred())
		Expect(admin.Create(ctx, &batonv1alpha1.DeployWindow{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "lunch", Labels: map[string]string{"team": "shop"}},
			Spec: batonv1alpha1.DeployWindowSpec{Type: batonv1alpha1.WindowDeny, Schedule: "0 12 * * *",
				Duration: &metav1.Duration{Duration: 3600e9}, TimeZone: "Europe/Berlin"},
		})).To(Succeed())
	})

	windowed := func(name string, sel batonv1alpha1.WindowSelector) *batonv1alpha1.Environment {
		env := jobEnvironment(ns, name, "")
		env.Spec.Verification = batonv1alpha1.Verification{}
		env.Spec.DeployWindows = &sel
		return env
	}

	DescribeTable("admits it with a warning naming the field, and stores it",
		func(name string, sel batonv1alpha1.WindowSelector, want string) {
			// The positive signal: a selection that finds its window is
			// admitted with no warning at all (the cache has the window).
			Eventually(func(g Gomega) {
				ok := windowed(name+"-ok", batonv1alpha1.WindowSelector{Names: []string{"lunch"}})
				g.Expect(c.Create(ctx, ok)).To(Succeed())
				g.Expect(warned.take()).To(BeEmpty())
			}).Should(Succeed())

			Expect(c.Create(ctx, windowed(name, sel))).To(Succeed())
			Expect(warned.take()).To(ConsistOf(And(ContainSubstring(want), ContainSubstring("every Promotion here waits Queued with reason WindowNotFound"))))
			Expect(admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &batonv1alpha1.Environment{})).To(Succeed())
		},
		Entry("a name that does not exist", "by-name", batonv1alpha1.WindowSelector{Names: []string{"lunch", "holiday"}},
			`spec.deployWindows.names[1]: DeployWindow "holiday" does not exist in namespace`),
		Entry("a selector that matches none", "by-label", batonv1alpha1.WindowSelector{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "search"}}},
			`spec.deployWindows.selector "team=search" matches no DeployWindow in namespace`),
	)
})
