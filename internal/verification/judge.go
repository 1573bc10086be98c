package verification

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/prometheus/common/model"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// Threshold is a check's condition on its value: below or above a bound.
type Threshold struct {
	// Bound is the number compared with.
	Bound float64
	// Above: the value must be greater than Bound; otherwise less.
	Above bool
}

// ParseThreshold reads prometheus.below or prometheus.above; field names the
// check in errors. The CRD already allows exactly one, as a number.
func ParseThreshold(field string, c *batonv1alpha1.PrometheusCheck) (Threshold, error) {
	text, above, name := c.Below, false, "below"
	if c.Above != nil {
		text, above, name = c.Above, true, "above"
	}
	if text == nil {
		return Threshold{}, fmt.Errorf("%s: set one of below or above", field)
	}
	f, err := strconv.ParseFloat(*text, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return Threshold{}, fmt.Errorf("%s.%s: %q is not a finite number", field, name, *text)
	}
	return Threshold{Bound: f, Above: above}, nil
}

// Passes reports whether v meets the threshold.
func (t Threshold) Passes(v float64) bool {
	if t.Above {
		return v > t.Bound
	}
	return v < t.Bound
}

func (t Threshold) String() string {
	if t.Above {
		return "> " + formatValue(t.Bound)
	}
	return "< " + formatValue(t.Bound)
}

// Sample is one evaluation of a check.
type Sample struct {
	Verdict batonv1alpha1.CheckVerdict
	// Reason is a condition reason for Inconclusive and Error.
	Reason string
	// Value is the value as text, when there was one.
	Value string
	// Message names the query, the value, the threshold and the time.
	Message string
	// At is when the query was evaluated.
	At time.Time
}

// Judge compares a query's result with the threshold. The result must be one
// sample: a scalar, or an instant vector of one element. No sample, several,
// or NaN (such as an error ratio over no traffic) is inconclusive: never a
// pass.
func Judge(name, query string, result model.Value, t Threshold, at time.Time) Sample {
	s := Sample{At: at}
	v, n := oneValue(result)
	when := at.UTC().Format(time.RFC3339)
	switch {
	case n == 0:
		s.Verdict, s.Reason = batonv1alpha1.CheckInconclusive, batonv1alpha1.CheckInconclusiveReason
		s.Message = fmt.Sprintf("check %s: query %q returned no sample at %s; no sample is never a pass (is the workload serving traffic, and its metrics scraped?)", name, query, when)
		return s
	case n > 1:
		s.Verdict, s.Reason = batonv1alpha1.CheckInconclusive, batonv1alpha1.CheckInconclusiveReason
		s.Message = fmt.Sprintf("check %s: query %q returned %s at %s; it must return one sample: aggregate it, for example with sum(), and do not end it with a range [..]", name, query, describe(result), when)
		return s
	}
	s.Value = formatValue(v)
	if math.IsNaN(v) {
		s.Verdict, s.Reason = batonv1alpha1.CheckInconclusive, batonv1alpha1.CheckInconclusiveReason
		s.Message = fmt.Sprintf("check %s: query %q returned NaN at %s (a ratio over no traffic?); NaN is never a pass", name, query, when)
		return s
	}
	s.Verdict = batonv1alpha1.CheckPass
	if !t.Passes(v) {
		s.Verdict = batonv1alpha1.CheckFail
	}
	s.Message = fmt.Sprintf("check %s: query %q returned %s at %s; threshold %s", name, query, s.Value, when, t)
	return s
}

// oneValue is the value of a one-sample result, and how many samples there
// were.
func oneValue(result model.Value) (float64, int) {
	switch r := result.(type) {
	case *model.Scalar:
		return float64(r.Value), 1
	case model.Vector:
		if len(r) != 1 {
			return 0, len(r)
		}
		return float64(r[0].Value), 1
	case model.Matrix:
		// A range vector is never one sample, whatever its length.
		return 0, 2 + len(r)
	}
	return 0, 0
}

func formatValue(v float64) string {
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// Errored is the Sample for a check that could not be evaluated.
func Errored(name, reason, message string, at time.Time) Sample {
	return Sample{Verdict: batonv1alpha1.CheckError, Reason: reason, At: at,
		Message: fmt.Sprintf("check %s could not be evaluated at %s: %s", name, at.UTC().Format(time.RFC3339), message)}
}

func describe(result model.Value) string {
	switch r := result.(type) {
	case model.Vector:
		return fmt.Sprintf("%d series", len(r))
	case model.Matrix:
		return fmt.Sprintf("a range vector of %d series", len(r))
	}
	return "a " + result.Type().String()
}
