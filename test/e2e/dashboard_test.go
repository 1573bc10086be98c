//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chromedp/chromedp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/test/e2e/framework"
)

// dashboardOffset puts the users' dashboards on E2E_PORT_BASE+85..+88 and
// the attacker's page on +89, clear of the suite's cluster (+40), the
// failover managers (+30) and the red-team Git specs' servers (+80, +81).
const dashboardOffset = 85

// chromium is Debian's (make chromium); CHROMIUM overrides it.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// dashboard is one user's `kubectl promote dashboard` process and the tab
// of their own browser profile that shows it.
type dashboard struct {
	user   string
	port   int
	url    string // with the token, as printed
	cmd    *exec.Cmd
	stderr *gbytes.Buffer
	tab    context.Context
}

// startDashboard runs bin/kubectl-promote dashboard as user on port, and
// reads the URL it prints.
func startDashboard(user string, port int) *dashboard {
	GinkgoHelper()
	cmd := exec.Command(filepath.Join(bin, "kubectl-promote"), "dashboard", "--no-browser", "--verbose",
		"--port", strconv.Itoa(port), "--kubeconfig", filepath.Join(dir, user+".kubeconfig"), "-n", ns)
	stdout, err := cmd.StdoutPipe()
	Expect(err).NotTo(HaveOccurred())
	d := &dashboard{user: user, port: port, cmd: cmd, stderr: gbytes.NewBuffer()}
	cmd.Stderr = d.stderr
	Expect(cmd.Start()).To(Succeed())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	Expect(err).NotTo(HaveOccurred(), "stderr: %s", d.stderr.Contents())
	_, d.url, _ = strings.Cut(strings.TrimSpace(line), ": ")
	GinkgoWriter.Printf("%s's dashboard: %s\n", user, strings.Split(d.url, "?")[0])
	Expect(d.url).To(HavePrefix(fmt.Sprintf("http://127.0.0.1:%d/?token=", port)))
	go func() { _, _ = bufio.NewReader(stdout).WriteTo(GinkgoWriter) }()
	return d
}

func (d *dashboard) origin() string { return fmt.Sprintf("http://127.0.0.1:%d", d.port) }

// stop ends the process with SIGTERM, as Ctrl-C would, and waits for it.
func (d *dashboard) stop() {
	if d == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
	}
}

// run runs browser actions in d's tab.
func (d *dashboard) run(actions ...chromedp.Action[chromedp.Void]) {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(d.tab, time.Minute)
	defer cancel()
	Expect(chromedp.Do(ctx, actions...)).To(Succeed(), "in %s's browser", d.user)
}

// get runs one browser action that returns a value in d's tab.
func get[T any](d *dashboard, action chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(d.tab, 30*time.Second)
	defer cancel()
	return chromedp.Run(ctx, action)
}

// eval evaluates a JavaScript expression in d's tab. DevTools evaluation is
// not the page's script, so the page's CSP does not apply to it.
func eval[T any](d *dashboard, expr string) (T, error) {
	return get(d, chromedp.Evaluate[T](expr))
}

// must is eval that fails the spec on an error.
func must[T any](d *dashboard, expr string) T {
	GinkgoHelper()
	v, err := eval[T](d, expr)
	Expect(err).NotTo(HaveOccurred(), "in %s's browser: %s", d.user, expr)
	return v
}

// text is the textContent of the first element sel matches, or "".
func (d *dashboard) text(sel string) string {
	v, _ := eval[string](d, `(() => { const n = document.querySelector(`+js(sel)+`); return n ? n.textContent : ""; })()`)
	return v
}

// js quotes s as a JavaScript string.
func js(s string) string { return strconv.Quote(s) }

// phasesOnPage is what d's page shows as the phase of Promotion name, or ""
// when it does not show it.
func (d *dashboard) phaseOnPage(name string) string {
	return d.text(`[data-promotion=` + js(name) + `] [data-phase]`)
}

// disabled reports whether the button sel on d's page is disabled.
func (d *dashboard) disabled(sel string) bool {
	GinkgoHelper()
	return must[bool](d, `document.querySelector(`+js(sel)+`).disabled`)
}

var _ = Describe("dashboard", Ordered, func() {
	var (
		browser                           context.Context
		aliceUI, bobUI, carolUI, oncallUI *dashboard
		name, rollbackName                string
		attackerPort                      int
		stagingEnv, productionEnv         = "d-staging", "d-production"
	)

	BeforeAll(func() {
		_, err := os.Stat(chromiumPath())
		Expect(err).NotTo(HaveOccurred(), "the dashboard spec needs Debian's chromium: run `make chromium`")

		newEnvironment(stagingEnv, nil)
		newEnvironment(productionEnv, func(s *batonv1alpha1.EnvironmentSpec, _ *appsv1.Deployment) {
			s.Upstream = stagingEnv
			s.Approval.Required = 1
		})
		Expect(alice.Create(suiteCtx, promotion("d-staging-110", stagingEnv, image110, "new checkout"))).To(Succeed())
		waitPhase("d-staging-110", batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Eventually(func(g Gomega) {
			g.Expect(getEnv(g, stagingEnv).Status.VerifiedImages).To(ContainElement(HaveField("Image", image110)))
		}).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())

		first := framework.PortBase(GinkgoT(), dashboardOffset)
		aliceUI, bobUI, carolUI, oncallUI = startDashboard("alice", first), startDashboard("bob", first+1), startDashboard("carol", first+2), startDashboard("oncall", first+3)
		attackerPort = first + 4
		DeferCleanup(func() {
			for _, d := range []*dashboard{aliceUI, bobUI, carolUI, oncallUI} {
				d.stop()
				GinkgoWriter.Printf("%s's dashboard said on stderr:\n%s\n", d.user, d.stderr.Contents())
			}
		})
		pids := map[int]string{}
		for _, d := range []*dashboard{aliceUI, bobUI, carolUI, oncallUI} {
			pids[d.cmd.Process.Pid] = "dashboard of " + d.user
		}
		expectLoopbackOnly(framework.Listeners(GinkgoT(), pids))

		// One headless Chromium; each user gets a browser context of their
		// own, with its own cookies, as if on their own machine.
		profile := GinkgoT().TempDir()
		alloc, cancelAlloc := chromedp.NewExecAllocator(suiteCtx,
			chromedp.ExecPath(chromiumPath()),
			chromedp.Headless, chromedp.NoSandbox, chromedp.NoFirstRun,
			chromedp.Flag("disable-gpu", true),
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.UserDataDir(profile),
			chromedp.WindowSize(1280, 800),
		)
		DeferCleanup(cancelAlloc)
		var cancelBrowser context.CancelFunc
		browser, cancelBrowser = chromedp.NewContext(alloc)
		DeferCleanup(cancelBrowser)
		Expect(chromedp.Do(browser)).To(Succeed(), "start %s", chromiumPath())
		for _, d := range []*dashboard{aliceUI, bobUI, carolUI, oncallUI} {
			tab, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
			DeferCleanup(cancel)
			d.tab = tab
			// The first Run opens the tab and binds its life to its context:
			// no timeout on this one.
			Expect(chromedp.Do(tab)).To(Succeed())
			d.run(chromedp.EmulateViewport(1280, 800), chromedp.Navigate(d.url),
				chromedp.WaitVisible(chromedp.CSS("#env-"+productionEnv)))
			location, err := get(d, chromedp.Location())
			Expect(err).NotTo(HaveOccurred())
			Expect(location).To(Equal(d.origin()+"/"), "the token is gone from the address bar")
		}
	})

	It("alice promotes staging's verified image to production and sees it wait for approval", func() {
		// A permission review that failed in a busy moment is asked again
		// at the next read (a resync at the latest): wait for the answer.
		Eventually(func() bool { return aliceUI.disabled("#promote-" + productionEnv) }).
			WithTimeout(45*time.Second).WithPolling(500*time.Millisecond).Should(BeFalse(), "alice may promote into %s", productionEnv)
		aliceUI.run(
			chromedp.SetValue(chromedp.CSS("#reason-promote-"+productionEnv), "ship the new checkout"),
			chromedp.Click(chromedp.CSS("#promote-"+productionEnv)),
			chromedp.WaitVisible(chromedp.CSS("#result")),
		)
		var said string
		Eventually(func() string { said = aliceUI.text("#result"); return said }).
			WithTimeout(time.Minute).Should(HavePrefix("Created Promotion " + productionEnv + "-"))
		name = strings.Fields(said)[2]

		waiting := waitPhase(name, batonv1alpha1.PromotionWaitingForApproval, time.Minute)
		Expect(waiting.Spec.RequestedBy.Username).To(Equal("alice"), "the webhook recorded the person, not the dashboard")
		Expect(waiting.Status.Image).To(Equal(image110))
		Expect(waiting.Spec.Reason).To(Equal("ship the new checkout"))
		Eventually(aliceUI.phaseOnPage).WithArguments(name).WithTimeout(time.Minute).Should(Equal("WaitingForApproval"))
		why := aliceUI.text(`[data-promotion=` + js(name) + `] .why`)
		Expect(why).To(ContainSubstring("1 more approval(s)"), "why it waits, in the words of the plugin")
		Expect(aliceUI.disabled(`button[data-approve=`+js(name)+`]`)).To(BeTrue(), "alice may not approve")
		Eventually(func(g Gomega) { expectDeployment(g, productionEnv, image100) }).Should(Succeed())
	})

	It("carol (viewer) sees every button disabled", func() {
		Eventually(carolUI.phaseOnPage).WithArguments(name).WithTimeout(time.Minute).Should(Equal("WaitingForApproval"))
		for _, env := range []string{stagingEnv, productionEnv} {
			Expect(carolUI.disabled("#promote-"+env)).To(BeTrue(), "promote %s", env)
			Expect(carolUI.disabled("#undo-"+env)).To(BeTrue(), "undo %s", env)
		}
		Expect(carolUI.disabled(`button[data-approve=` + js(name) + `]`)).To(BeTrue())
		Expect(carolUI.disabled(`button[data-cancel=` + js(name) + `]`)).To(BeTrue())
		title := must[string](carolUI, `document.querySelector("#promote-`+productionEnv+`").title`)
		Expect(title).To(ContainSubstring("SelfSubjectAccessReview"))
		// A click on a disabled button sends nothing: the page's handlers
		// run during the click, so the count is final once it returns.
		Expect(must[bool](carolUI, `window.calls = 0; const f = window.fetch; window.fetch = (...a) => { window.calls++; return f(...a); }; true`)).To(BeTrue())
		carolUI.run(
			chromedp.Click(chromedp.CSS("#undo-"+productionEnv)),
			chromedp.Click(chromedp.CSS(`button[data-cancel=`+js(name)+`]`)),
		)
		Expect(must[int](carolUI, `window.calls`)).To(BeZero())
		Expect(getPromotion(Default, name).Status.Phase).To(Equal(batonv1alpha1.PromotionWaitingForApproval))
	})

	It("bob approves in his own dashboard, and alice's page shows the rollout live, ending Succeeded", func() {
		Eventually(bobUI.phaseOnPage).WithArguments(name).WithTimeout(time.Minute).Should(Equal("WaitingForApproval"))
		Expect(bobUI.disabled(`button[data-approve=` + js(name) + `]`)).To(BeFalse())

		// alice's page notes when it first shows each phase; a watch in the
		// test notes when the cluster changed it. Both use this machine's
		// clock.
		Expect(must[bool](aliceUI, `(() => {
			window.seen = {};
			const note = () => {
				const p = document.querySelector('[data-promotion=`+js(name)+`] [data-phase]');
				if (p && !(p.textContent in window.seen)) window.seen[p.textContent] = performance.timeOrigin + performance.now();
			};
			new MutationObserver(note).observe(document.getElementById("pipeline"), {childList: true, subtree: true});
			return true;
		})()`)).To(BeTrue())
		inCluster := watchPhases(name)

		// Production's Deployment is paused, as `kubectl rollout pause`
		// leaves it, so the Promotion stays RollingOut until alice's page
		// has shown that: the page gets as long as it needs, and nothing
		// here depends on how fast this machine is. A paused Deployment
		// never reaches its progress deadline.
		pauseDeployment(productionEnv, true)
		bobUI.run(chromedp.Click(chromedp.CSS(`button[data-approve=` + js(name) + `]`)))
		var said string
		Eventually(func() string { said = bobUI.text("#result"); return said }).
			WithTimeout(time.Minute).Should(Equal("Approved " + name + " for " + image110))

		var seen map[string]float64
		Eventually(func() map[string]float64 { seen, _ = eval[map[string]float64](aliceUI, `window.seen`); return seen }).
			WithTimeout(time.Minute).Should(HaveKey("RollingOut"), "alice's page shows the rollout after bob's approval, without a reload")
		Expect(getPromotion(Default, name).Status.Phase).To(Equal(batonv1alpha1.PromotionRollingOut), "the paused Deployment holds the Promotion in RollingOut")
		pauseDeployment(productionEnv, false)

		done := waitPhase(name, batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Expect(done.Spec.Approvals).To(ConsistOf(HaveField("Username", "bob")))
		Eventually(func(g Gomega) { expectDeployment(g, productionEnv, image110) }).WithTimeout(time.Minute).Should(Succeed())

		// Queued and Promoting last as long as this machine takes, and the
		// page coalesces updates: which of them it caught is measured below,
		// not required.
		Eventually(func() map[string]float64 { seen, _ = eval[map[string]float64](aliceUI, `window.seen`); return seen }).
			WithTimeout(time.Minute).Should(HaveKey("Succeeded"))
		changed := inCluster()
		for _, phase := range []string{"Queued", "Promoting", "RollingOut", "Succeeded"} {
			if _, ok := seen[phase]; !ok {
				continue
			}
			Expect(changed).To(HaveKey(phase))
			latency := time.Duration((seen[phase] - float64(changed[phase].UnixNano())/1e6) * float64(time.Millisecond))
			GinkgoWriter.Printf("MEASURED dashboard latency, %s in the cluster to alice's page: %s\n", phase, latency.Round(time.Millisecond))
			fmt.Printf("MEASURED dashboard latency, %s in the cluster to alice's page: %s\n", phase, latency.Round(time.Millisecond))
			// A measurement, not a goal: the machines are shared, so a
			// bound here would be a timed test. That the page shows the
			// change at all, without a reload, is asserted above.
		}
		Eventually(aliceUI.text).WithArguments(`#env-` + productionEnv + ` tr[data-revision="2"]`).WithTimeout(10 * time.Second).Should(And(ContainSubstring("Succeeded"), ContainSubstring("alice"), ContainSubstring("bob")))
	})

	It("oncall rolls back from the page", func() {
		Expect(oncallUI.disabled("#undo-" + productionEnv)).To(BeFalse())
		Expect(oncallUI.disabled("#promote-"+productionEnv)).To(BeTrue(), "oncall may roll back, not promote")
		Eventually(func() bool {
			ok, _ := eval[bool](oncallUI, `!!document.querySelector('#revision-undo-`+productionEnv+` option[value="1"]')`)
			return ok
		}).WithTimeout(30*time.Second).Should(BeTrue(), "revision 1 is offered")
		// As a person would, oncall acts once her page shows production
		// settled: until then the lease holder's box above the form is
		// still there, and the form moves when it goes.
		Eventually(oncallUI.text).WithArguments("#env-"+productionEnv).WithTimeout(30*time.Second).
			Should(ContainSubstring("Nothing in flight"), "oncall's page shows production settled")
		oncallUI.run(
			chromedp.SetValue(chromedp.CSS("#revision-undo-"+productionEnv), "1"),
			chromedp.SetValue(chromedp.CSS("#reason-undo-"+productionEnv), "checkout errors"),
			chromedp.Click(chromedp.CSS("#undo-"+productionEnv)),
		)
		var said string
		Eventually(func() string { said = oncallUI.text("#result"); return said }).
			WithTimeout(time.Minute).Should(HavePrefix("Created rollback "+productionEnv+"-rollback-"),
			func() string { return "the page's error line says: " + oncallUI.text("#error") })
		rollbackName = strings.Fields(said)[2]
		back := waitPhase(rollbackName, batonv1alpha1.PromotionSucceeded, 2*time.Minute)
		Expect(back.Spec.RequestedBy.Username).To(Equal("oncall"))
		Expect(back.Spec.Rollback).To(Equal(&batonv1alpha1.RollbackSpec{ToRevision: 1}))
		Eventually(func(g Gomega) { expectDeployment(g, productionEnv, image100) }).WithTimeout(time.Minute).Should(Succeed())
		Eventually(aliceUI.text).WithArguments(`#env-` + productionEnv + ` tr[data-revision="3"]`).WithTimeout(time.Minute).
			Should(And(ContainSubstring("(current)"), ContainSubstring("Succeeded (rollback)"), ContainSubstring("oncall")))

		// The screenshot in README.md and docs/dashboard.md is alice's page
		// after this real run: DASHBOARD_SCREENSHOT=$PWD/docs/images/dashboard.png
		// writes it there; otherwise it goes to a temporary file, so that a
		// test run leaves the tree as it was.
		// What a 1280×800 window shows first: the header and this pipeline.
		Expect(must[bool](aliceUI, `window.scrollTo(0, 0); true`)).To(BeTrue())
		aliceUI.run(chromedp.EmulateViewport(1280, 800))
		png, err := get(aliceUI, chromedp.CaptureScreenshot())
		Expect(err).NotTo(HaveOccurred())
		shot := os.Getenv("DASHBOARD_SCREENSHOT")
		if shot == "" {
			shot = filepath.Join(os.TempDir(), "baton-dashboard.png")
		}
		Expect(os.WriteFile(shot, png, 0o644)).To(Succeed())
		GinkgoWriter.Printf("dashboard screenshot: %s\n", shot)
	})

	It("refuses a request without the token, or with a foreign Origin or Host", func() {
		jar, err := cookiejar.New(nil)
		Expect(err).NotTo(HaveOccurred())
		c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
		resp, err := c.Get(aliceUI.url)
		Expect(err).NotTo(HaveOccurred())
		_ = resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		u, err := url.Parse(aliceUI.origin())
		Expect(err).NotTo(HaveOccurred())
		cookie := jar.Cookies(u)
		Expect(cookie).To(HaveLen(1))

		forged := `{"environment":"` + productionEnv + `","reason":"forged by a foreign page"}`
		send := func(method, path string, spoil func(*http.Request)) int {
			req, err := http.NewRequest(method, aliceUI.origin()+path, strings.NewReader(forged))
			Expect(err).NotTo(HaveOccurred())
			req.AddCookie(cookie[0])
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Origin", aliceUI.origin())
			spoil(req)
			resp, err := http.DefaultTransport.RoundTrip(req)
			Expect(err).NotTo(HaveOccurred())
			_ = resp.Body.Close()
			return resp.StatusCode
		}
		Expect(send("GET", "/api/state", func(r *http.Request) { r.Header.Del("Cookie") })).To(Equal(http.StatusUnauthorized))
		Expect(send("GET", "/", func(r *http.Request) { r.Header.Del("Cookie") })).To(Equal(http.StatusUnauthorized))
		Expect(send("GET", "/api/state", func(r *http.Request) { r.Host = "rebind.attacker.example:" + strconv.Itoa(aliceUI.port) })).To(Equal(http.StatusMisdirectedRequest))
		Expect(send("POST", "/api/promote", func(r *http.Request) { r.Header.Set("Origin", "http://attacker.example") })).To(Equal(http.StatusForbidden))
		Expect(send("POST", "/api/promote", func(*http.Request) {})).To(Equal(http.StatusForbidden), "no CSRF header")

		// A page on another port of this machine (another local user's, or
		// one that a link led to), in alice's own browser, which has the
		// cookie: 127.0.0.1 on another port is the same site, so SameSite
		// alone would not stop it. It tries a fetch and a form post.
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(attackerPort))
		Expect(err).NotTo(HaveOccurred())
		evil := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<!doctype html><title>cute cats</title>
<form id=f method=POST action="%[1]s/api/promote" enctype="text/plain" target=sink><input name='{"environment":"%[2]s","reason":"forged by a foreign page","x":"' value='"}'></form>
<iframe name=sink></iframe>
<script>
fetch("%[1]s/api/promote", {method: "POST", mode: "no-cors", credentials: "include", headers: {"Content-Type": "text/plain"}, body: '%[3]s'})
  .finally(() => { document.getElementById("f").submit(); document.title = "sent"; });
</script>`, aliceUI.origin(), productionEnv, forged)
		})}
		go func() { _ = evil.Serve(ln) }()
		DeferCleanup(func() { _ = evil.Close() })
		before := aliceUI.stderr.Contents()
		aliceUI.run(chromedp.Navigate(fmt.Sprintf("http://127.0.0.1:%d/", attackerPort)))
		Eventually(func() string {
			t, _ := get(aliceUI, chromedp.Title())
			return t
		}).WithTimeout(10 * time.Second).Should(Equal("sent"))
		// The dashboard logged both refusals: it saw them and said no.
		Eventually(func() int {
			return strings.Count(string(aliceUI.stderr.Contents()[len(before):]), `"path"="/api/promote"`)
		}).WithTimeout(10*time.Second).Should(BeNumerically(">=", 2), "%s", aliceUI.stderr.Contents()[len(before):])
		list := &batonv1alpha1.PromotionList{}
		Expect(carol.List(suiteCtx, list, client.InNamespace(ns))).To(Succeed())
		for _, p := range list.Items {
			Expect(p.Spec.Reason).NotTo(Equal("forged by a foreign page"), "Promotion %s", p.Name)
		}
		Eventually(func(g Gomega) { expectDeployment(g, productionEnv, image100) }).Should(Succeed())
		aliceUI.run(chromedp.Navigate(aliceUI.origin()+"/"), chromedp.WaitVisible(chromedp.CSS("#env-"+productionEnv)))
	})

	It("shows a reason containing <script> as text", func() {
		reason := `<script>document.title="owned"</script><img src=x onerror="document.title='owned'"> & <b>bold</b>`
		aliceUI.run(
			chromedp.SetValue(chromedp.CSS("#image-promote-"+stagingEnv), image120),
			chromedp.SetValue(chromedp.CSS("#reason-promote-"+stagingEnv), reason),
			chromedp.Click(chromedp.CSS("#promote-"+stagingEnv)),
		)
		var said string
		Eventually(func() string { said = aliceUI.text("#result"); return said }).
			WithTimeout(time.Minute).Should(HavePrefix("Created Promotion " + stagingEnv + "-"))
		xss := strings.Fields(said)[2]
		Expect(getPromotion(Default, xss).Spec.Reason).To(Equal(reason))
		Eventually(aliceUI.text).WithArguments(`[data-promotion=` + js(xss) + `] .reason-text`).WithTimeout(time.Minute).Should(Equal(reason))
		Expect(must[int](aliceUI, `document.querySelectorAll("#pipeline script, #pipeline img, #pipeline b").length`)).To(BeZero())
		title, err := get(aliceUI, chromedp.Title())
		Expect(err).NotTo(HaveOccurred())
		Expect(title).To(Equal("Baton dashboard"))
		waitPhase(xss, batonv1alpha1.PromotionSucceeded, 2*time.Minute)
	})

	It("works from the keyboard", func() {
		aliceUI.run(chromedp.Navigate(aliceUI.origin()+"/"), chromedp.WaitVisible(chromedp.CSS("#env-"+productionEnv)),
			chromedp.KeyEvent("\t"))
		Expect(must[string](aliceUI, `document.activeElement.className`)).To(Equal("skip"), "the first Tab reaches the skip link")
		aliceUI.run(chromedp.KeyEvent("\r"), chromedp.KeyEvent("\t"))
		Expect(must[string](aliceUI, `(() => { const a = document.activeElement; return a.closest("#pipeline") ? a.tagName : "outside: " + a.tagName; })()`)).
			To(BeElementOf("INPUT", "SELECT", "BUTTON", "SUMMARY"), "then Tab goes into the pipeline, to a control")
	})

	It("reads on a narrow window", func() {
		aliceUI.run(chromedp.EmulateViewport(420, 800), chromedp.Sleep(200*time.Millisecond))
		overflow := must[bool](aliceUI, `document.documentElement.scrollWidth > document.documentElement.clientWidth`)
		Expect(overflow).To(BeFalse(), "no sideways scrolling at 420 px")
		aliceUI.run(chromedp.EmulateViewport(1280, 800))
	})
})

// watchPhases notes, from a watch as carol, when Promotion name enters each
// phase; the returned function stops the watch and gives the times.
// pauseDeployment pauses or resumes Environment env's Deployment, as
// `kubectl rollout pause` and `kubectl rollout resume` do.
func pauseDeployment(env string, paused bool) {
	GinkgoHelper()
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: workloadNS(env), Name: "web"}}
	Expect(admin.Patch(suiteCtx, d, client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"spec":{"paused":%t}}`, paused)))).To(Succeed())
}

func watchPhases(name string) func() map[string]time.Time {
	GinkgoHelper()
	c, err := client.NewWithWatch(framework.RestConfig(GinkgoT(), dir, "carol"), client.Options{Scheme: carol.Scheme()})
	Expect(err).NotTo(HaveOccurred())
	w, err := c.Watch(suiteCtx, &batonv1alpha1.PromotionList{}, client.InNamespace(ns),
		client.MatchingFields{"metadata.name": name})
	Expect(err).NotTo(HaveOccurred())
	seen := map[string]time.Time{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*batonv1alpha1.Promotion); ok {
				if _, dup := seen[string(p.Status.Phase)]; !dup {
					seen[string(p.Status.Phase)] = time.Now()
				}
			}
		}
	}()
	return func() map[string]time.Time {
		w.Stop()
		<-done
		return seen
	}
}
