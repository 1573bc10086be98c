package controllers

import (
	"context"
	"sync"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/metrics"
)

// countingRecorder passes Events on and counts them by object and reason.
type countingRecorder struct {
	events.EventRecorder
	mu     sync.Mutex
	counts map[string]int
}

func (c *countingRecorder) Eventf(regarding, related runtime.Object, eventType, reason, action, note string, args ...any) {
	if o, ok := regarding.(client.Object); ok {
		c.mu.Lock()
		c.counts[o.GetName()+"/"+reason]++
		c.mu.Unlock()
	}
	c.EventRecorder.Eventf(regarding, related, eventType, reason, action, note, args...)
}

func (c *countingRecorder) count(name, reason string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[name+"/"+reason]
}

// loseRaceOnSucceeded makes the engine's first status write that ends a
// production Promotion in namespace ns lose a real optimistic-concurrency
// race: just before it, another writer changes the Promotion, so the API
// server answers Conflict.
func loseRaceOnSucceeded(ns *atomic.Value, injected *atomic.Bool) func(*ctrl.Options) {
	return func(o *ctrl.Options) {
		o.NewClient = func(cfg *rest.Config, opts client.Options) (client.Client, error) {
			c, err := client.NewWithWatch(cfg, opts)
			if err != nil {
				return nil, err
			}
			return interceptor.NewClient(c, interceptor.Funcs{
				SubResourcePatch: func(ctx context.Context, cl client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
					p, ok := obj.(*batonv1alpha1.Promotion)
					if ok && sub == "status" && p.Namespace == ns.Load() && p.Spec.Environment == "production" &&
						p.Status.Phase == batonv1alpha1.PromotionSucceeded && !injected.Swap(true) {
						other := &batonv1alpha1.Promotion{}
						if err := cl.Get(ctx, client.ObjectKeyFromObject(p), other); err != nil {
							return err
						}
						other.Labels = map[string]string{"test.baton.dev/another-writer": "was-here"}
						if err := cl.Update(ctx, other); err != nil {
							return err
						}
					}
					return cl.SubResource(sub).Patch(ctx, obj, patch, opts...)
				},
			}), nil
		}
	}
}

var _ = Describe("Events and metrics after the write", func() {
	It("counts and announces a Promotion once when its final status write loses a race", func() {
		ctx := context.Background()
		var ns atomic.Value
		ns.Store("")
		var injected atomic.Bool
		rec := &countingRecorder{counts: map[string]int{}}
		stop := startPromotionManager(nil, engineTuning{
			options: loseRaceOnSucceeded(&ns, &injected),
			engine: func(r *PromotionReconciler) {
				rec.EventRecorder = r.Recorder
				r.Recorder = rec
			},
		})
		defer stop()

		s := newStage(ctx, "registry.example.com/web:1", nil)
		ns.Store(s.ns)
		s.shipToStaging(ctx, "registry.example.com/web:2")
		succeeded := metrics.PromotionsTotal.WithLabelValues(s.ns, "production", string(batonv1alpha1.PromotionSucceeded))
		before := testutil.ToFloat64(succeeded)

		p := s.promotion(ctx, "production", "to-prod-", "", nil)
		s.completeRollout(ctx, s.prodDep, "registry.example.com/web:2")
		expectPhase(ctx, p, batonv1alpha1.PromotionSucceeded)
		Expect(injected.Load()).To(BeTrue(), "the engine's write of Succeeded really met a Conflict")
		Expect(p.Labels).To(HaveKey("test.baton.dev/another-writer"))

		// Emitting follows the successful write: wait for it, then there
		// must be exactly one of each. A Promotion that announced before its
		// write would have announced twice by the time Succeeded is visible.
		Eventually(func() float64 { return testutil.ToFloat64(succeeded) - before }).Should(BeNumerically(">=", 1))
		Expect(testutil.ToFloat64(succeeded) - before).To(Equal(1.0))
		Expect(rec.count(p.Name, batonv1alpha1.SucceededReason)).To(Equal(1))
	})
})
