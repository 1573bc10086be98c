package controllers

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/source"
)

// This spec measures push → Promotion created, with the webhook and with
// polling, and prints a table. It asserts no timing; it runs only with
// BATON_MEASURE=1.
var _ = Describe("Measure push to Promotion", Label("measure"), func() {
	It("prints the times with the webhook and with polling", func() {
		if os.Getenv("BATON_MEASURE") != "1" {
			Skip("set BATON_MEASURE=1 to measure")
		}
		ctx := context.Background()
		DeferCleanup(startPromotionManager(nil))
		srv := gitServer()
		hooks := receiver()
		const poll = 5 * time.Second
		rows := [][]string{}
		for _, mode := range []string{"webhook", "polling"} {
			repo := newAppRepo(srv)
			s := newStage(ctx, "registry.example.com/web:1", nil)
			interval := time.Hour
			if mode == "polling" {
				interval = poll
			}
			s.follow(ctx, repo, interval)
			s.deploysSource(ctx, repo.head())
			var times []time.Duration
			for i := range 5 {
				sha := repo.merge(fmt.Sprintf("%s %d", mode, i))
				start := time.Now()
				if mode == "webhook" {
					code, answer := postHook(hooks.URL+"/hooks/"+s.ns+"/staging", pushPayload("refs/heads/main", sha), hookSecret)
					Expect(code).To(Equal(http.StatusAccepted), answer)
				}
				key := client.ObjectKey{Namespace: s.ns, Name: source.PromotionName("staging", sha)}
				Eventually(func() error { return k8sClient.Get(ctx, key, &batonv1alpha1.Promotion{}) }, "30s", "10ms").Should(Succeed())
				times = append(times, time.Since(start))
				s.deploysSource(ctx, sha)
			}
			slices.Sort(times)
			label := mode
			if mode == "polling" {
				label = fmt.Sprintf("polling, interval %s", poll)
			}
			rows = append(rows, []string{label, fmt.Sprint(len(times)), ms(times[0]), ms(times[len(times)/2]), ms(times[len(times)-1])})
		}
		fmt.Fprintf(GinkgoWriter, "\n| trigger | n | min | median | max |\n| --- | --- | --- | --- | --- |\n")
		for _, r := range rows {
			fmt.Fprintf(GinkgoWriter, "| %s | %s | %s | %s | %s |\n", r[0], r[1], r[2], r[3], r[4])
		}
		AddReportEntry("push to Promotion created", rows)
	})
})

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }
