//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// shippedQueries are the alerts and dashboards Baton ships, from the
// repository's root.
var shippedQueries = []string{"config/prometheus/prometheusrule.yaml", "config/grafana/baton-delivery.json"}

var _ = Describe("Watching a promotion: the manager's metrics in the suite's Prometheus", func() {
	It("O1. after a scripted run, every shipped alert and dashboard query finds data in the real Prometheus", func() {
		By("a success in staging, and one in production that bob approves")
		newEnvironment("o1-staging", func(_ *batonv1alpha1.EnvironmentSpec, d *appsv1.Deployment) {
			// No Pods: the broken image verifies here and fails only in
			// production, as in scenario 3.
			d.Spec.Replicas = ptr.To[int32](0)
		})
		newEnvironment("o1-production", func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) {
			s.Upstream = "o1-staging"
			s.Approval.Required = 1
			s.Rollout.AutoRollback = true
		})
		staged := func(name, image string) {
			GinkgoHelper()
			Expect(alice.Create(suiteCtx, promotion(name, "o1-staging", image, "O1: "+name))).To(Succeed())
			waitPhase(name, batonv1alpha1.PromotionSucceeded, 2*time.Minute)
			Eventually(func(g Gomega) {
				g.Expect(getEnv(g, "o1-staging").Status.VerifiedImages).To(ContainElement(HaveField("Image", image)))
			}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		}
		approved := func(name, image string, phase batonv1alpha1.PromotionPhase) {
			GinkgoHelper()
			Expect(alice.Create(suiteCtx, promotion(name, "o1-production", image, "O1: "+name))).To(Succeed())
			waitPhase(name, batonv1alpha1.PromotionWaitingForApproval, time.Minute)
			Expect(approve(bob, name)).To(Succeed())
			waitPhase(name, phase, 2*time.Minute)
		}
		staged("o1-staging-110", image110)
		approved("o1-110", image110, batonv1alpha1.PromotionSucceeded)

		By("a broken image that fails in production and is rolled back by Baton")
		staged("o1-staging-broken", imageBroke)
		approved("o1-broken", imageBroke, batonv1alpha1.PromotionFailed)
		waitPhase("o1-broken-rollback", batonv1alpha1.PromotionSucceeded, 2*time.Minute)

		By("oncall's manual rollback, with the plugin")
		out, _, err := plugin("oncall", "undo", "o1-production", "--reason", "O1: back to the adopted revision")
		Expect(err).NotTo(HaveOccurred())
		waitPhase(strings.TrimSpace(out), batonv1alpha1.PromotionSucceeded, 2*time.Minute)

		By("a Git delivery, which pushes (nothing applies the commit here, so it stays RollingOut)")
		repo := newConfigRepo("o1-config")
		newEnvironment("o1-git", func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) {
			s.Delivery = batonv1alpha1.Delivery{Git: &batonv1alpha1.GitDelivery{URL: repo.url, Branch: "main", Path: "staging",
				Edit: &batonv1alpha1.ManifestEdit{Kustomize: &batonv1alpha1.KustomizeEdit{ImageName: "registry.example.com/web"}}}}
		})
		Expect(alice.Create(suiteCtx, promotion("o1-git-110", "o1-git", image110, "O1: through Git"))).To(Succeed())
		pushed := waitPhase("o1-git-110", batonv1alpha1.PromotionRollingOut, 2*time.Minute)
		Expect(repo.head("main")).To(Equal(pushed.Status.Commit))

		By("asking the suite's Prometheus (it scrapes the manager every second) every shipped query")
		root, err := filepath.Abs(filepath.Join("..", ".."))
		Expect(err).NotTo(HaveOccurred())
		promqlcheck := func(flags ...string) (string, error) {
			args := append([]string{"run", "."}, flags...)
			for _, f := range shippedQueries {
				args = append(args, filepath.Join(root, f))
			}
			cmd := exec.CommandContext(suiteCtx, "go", args...)
			cmd.Dir = filepath.Join(root, "hack", "promqlcheck")
			b, err := cmd.CombinedOutput()
			return string(b), err
		}
		oks := func(report string) int { return strings.Count("\n"+report, "\nok ") }
		parsed, err := promqlcheck()
		Expect(err).NotTo(HaveOccurred(), parsed)
		Expect(oks(parsed)).To(BeNumerically(">=", 10), "the shipped alerts and panels: %s", parsed)
		var report string
		Eventually(func(g Gomega) {
			report, err = promqlcheck("-prometheus", prometheusURL())
			g.Expect(err).NotTo(HaveOccurred(), report)
		}).WithTimeout(2 * time.Minute).WithPolling(5 * time.Second).Should(Succeed())
		GinkgoWriter.Print(report)
		Expect(oks(report)).To(Equal(oks(parsed)), "every query was asked, and found data: %s", report)

		// The picture in docs/observability.md is these panels after this
		// run: PANELS_SCREENSHOT=$PWD/docs/images/panels.png writes it
		// there; otherwise it goes to a temporary file.
		png := panelsScreenshot(root, "o1-.*")
		shot := os.Getenv("PANELS_SCREENSHOT")
		if shot == "" {
			shot = filepath.Join(os.TempDir(), "baton-panels.png")
		}
		Expect(os.WriteFile(shot, png, 0o644)).To(Succeed())
		GinkgoWriter.Printf("panels screenshot: %s\n", shot)
	})
})

// keyPanels are the dashboard's panels the picture in docs/observability.md
// shows: a panel's title and the refId of its query.
var keyPanels = [][2]string{
	{"Promotions per environment", "A"},
	{"Failures and rollbacks", "B"},
	{"Time in each phase (p90)", "A"},
	{"Current image and revision", "B"},
}

// panelsScreenshot draws keyPanels from the suite's Prometheus, in its own
// (classic) graph page, for namespace web and the Environments envs
// matches, over the last minutes, and returns the PNG.
func panelsScreenshot(root, envs string) []byte {
	GinkgoHelper()
	raw, err := os.ReadFile(filepath.Join(root, "config", "grafana", "baton-delivery.json"))
	Expect(err).NotTo(HaveOccurred())
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	Expect(json.Unmarshal(raw, &dash)).To(Succeed())
	vars := strings.NewReplacer("$namespace", ns, "$environment", envs, "$__rate_interval", "1m")
	q := url.Values{}
	for i, want := range keyPanels {
		expr := ""
		for _, p := range dash.Panels {
			for _, t := range p.Targets {
				if p.Title == want[0] && t.RefID == want[1] {
					expr = vars.Replace(t.Expr)
				}
			}
		}
		Expect(expr).NotTo(BeEmpty(), "panel %q %s in the dashboard", want[0], want[1])
		g := fmt.Sprintf("g%d.", i)
		q.Set(g+"expr", expr)
		q.Set(g+"tab", "0")
		q.Set(g+"range_input", "2m")
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(suiteCtx,
		chromedp.ExecPath(chromiumPath()), chromedp.Headless, chromedp.NoSandbox, chromedp.NoFirstRun,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-background-networking", true),
		chromedp.UserDataDir(GinkgoT().TempDir()), chromedp.WindowSize(1280, 2800))
	defer cancelAlloc()
	tab, cancel := chromedp.NewContext(alloc)
	defer cancel()
	Expect(chromedp.Do(tab)).To(Succeed(), "start %s", chromiumPath())
	ctx, cancelRun := context.WithTimeout(tab, time.Minute)
	defer cancelRun()
	Expect(chromedp.Do(ctx, chromedp.EmulateViewport(1280, 2800), chromedp.Navigate(prometheusURL()+"/classic/graph?"+q.Encode()))).To(Succeed())
	// The positive signal: Prometheus has drawn a chart in every graph.
	Eventually(func(g Gomega) {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".graph svg").length`))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(n).To(BeNumerically(">=", len(keyPanels)))
	}).WithTimeout(30 * time.Second).Should(Succeed())
	// Focusing the first query's field scrolls the page: back to the top.
	_, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`document.activeElement.blur(); window.scrollTo(0, 0); true`))
	Expect(err).NotTo(HaveOccurred())
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	Expect(err).NotTo(HaveOccurred())
	return png
}
