package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// PromotionsTotal counts Promotions that reached a terminal phase.
	PromotionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "baton_promotions_total",
		Help: "Promotions that reached a terminal phase, by namespace, environment and result (Succeeded, Failed, Canceled, Superseded).",
	}, []string{"namespace", "environment", "result"})

	// PhaseDuration observes how long Promotions spend in each phase.
	PhaseDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "baton_promotion_phase_duration_seconds",
		Help:    "Time a Promotion spent in a phase before leaving it, by namespace, environment and phase.",
		Buckets: prometheus.ExponentialBuckets(0.5, 2, 14), // 0.5s to about 2h
	}, []string{"namespace", "environment", "phase"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(PromotionsTotal, PhaseDuration)
}
