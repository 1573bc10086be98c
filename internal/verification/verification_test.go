package verification

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

var data = QueryData{Namespace: "shop", Environment: "staging", Workload: "web", WorkloadNamespace: "shop",
	Container: "web", Image: "registry.example/web:1.2-errors", Tag: "1.2-errors", Revision: "3"}

func TestParseQueryRendersFieldsOnly(t *testing.T) {
	const field = "spec.verification.checks[0].prometheus.query"
	for _, tc := range []struct {
		name, query, want, wantErr string
	}{
		{"plain PromQL", `sum(rate(http_requests_total{code=~"5.."}[1m]))`, `sum(rate(http_requests_total{code=~"5.."}[1m]))`, ""},
		{"every field", `x{ns="{{.Namespace}}",env="{{.Environment}}",w="{{.Workload}}",wn="{{.WorkloadNamespace}}",c="{{.Container}}",i="{{.Image}}",t="{{.Tag}}",r="{{.Revision}}"}`,
			`x{ns="shop",env="staging",w="web",wn="shop",c="web",i="registry.example/web:1.2-errors",t="1.2-errors",r="3"}`, ""},
		{"does not parse", `x{env="{{.Environment}"}`, "", field + " does not parse"},
		{"unknown field", `x{env="{{.Secret}}"}`, "", "{{.Secret}} is not allowed"},
		{"nested field", `{{.Image.Tag}}`, "", "{{.Image.Tag}} is not allowed"},
		{"function call", `{{printf "%s" .Image}}`, "", "is not allowed"},
		{"pipeline", `{{.Image | html}}`, "", "is not allowed"},
		{"variable", `{{$x := .Image}}{{$x}}`, "", "is not allowed"},
		{"if", `{{if .Image}}x{{end}}`, "", "is not allowed"},
		{"range", `{{range .Image}}x{{end}}`, "", "is not allowed"},
		{"template call", `{{template "x"}}`, "", "is not allowed"},
		{"define", `{{define "x"}}y{{end}}z`, "", "define and block are not allowed"},
		{"dot", `{{.}}`, "", "is not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := ParseQuery(field, tc.query)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), field) {
					t.Fatalf("ParseQuery(%q) = %v, want an error naming %s and containing %q", tc.query, err, field, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseQuery(%q): %v", tc.query, err)
			}
			got, err := q.Render(data)
			if err != nil || got != tc.want {
				t.Fatalf("Render = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestParseThreshold(t *testing.T) {
	const field = "spec.verification.checks[1].prometheus"
	for _, tc := range []struct {
		name         string
		below, above *string
		want         Threshold
		wantErr      string
	}{
		{"below", ptr.To("0.01"), nil, Threshold{Bound: 0.01}, ""},
		{"above", nil, ptr.To("99.5"), Threshold{Bound: 99.5, Above: true}, ""},
		{"exponent", ptr.To("1e-3"), nil, Threshold{Bound: 0.001}, ""},
		{"neither", nil, nil, Threshold{}, field + ": set one of below or above"},
		{"not a number", ptr.To("lots"), nil, Threshold{}, field + `.below: "lots" is not a finite number`},
		{"infinite", nil, ptr.To("1e999"), Threshold{}, field + `.above: "1e999" is not a finite number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseThreshold(field, &batonv1alpha1.PrometheusCheck{Below: tc.below, Above: tc.above})
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("= %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestJudge(t *testing.T) {
	at := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	below := Threshold{Bound: 0.01}
	sample := func(v float64) model.Vector { return model.Vector{{Value: model.SampleValue(v)}} }
	for _, tc := range []struct {
		name        string
		result      model.Value
		t           Threshold
		verdict     batonv1alpha1.CheckVerdict
		wantMessage string
	}{
		{"below passes", sample(0.002), below, batonv1alpha1.CheckPass, `query "q" returned 0.002 at 2026-12-02T04:00:00Z; threshold < 0.01`},
		{"at the bound fails", sample(0.01), below, batonv1alpha1.CheckFail, "returned 0.01"},
		{"error rate fails", sample(0.3), below, batonv1alpha1.CheckFail, "returned 0.3 at 2026-12-02T04:00:00Z; threshold < 0.01"},
		{"above passes", sample(0.999), Threshold{Bound: 0.99, Above: true}, batonv1alpha1.CheckPass, "threshold > 0.99"},
		{"scalar", &model.Scalar{Value: 0}, below, batonv1alpha1.CheckPass, "returned 0"},
		{"no sample", model.Vector{}, below, batonv1alpha1.CheckInconclusive, "returned no sample"},
		{"nil result", nil, below, batonv1alpha1.CheckInconclusive, "returned no sample"},
		{"two series", model.Vector{{Value: 1}, {Value: 2}}, below, batonv1alpha1.CheckInconclusive, "returned 2 series"},
		{"range vector", model.Matrix{{}}, below, batonv1alpha1.CheckInconclusive, "a range vector of 1 series"},
		{"NaN", sample(math.NaN()), below, batonv1alpha1.CheckInconclusive, "returned NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Judge("error-rate", "q", tc.result, tc.t, at)
			if s.Verdict != tc.verdict || !strings.Contains(s.Message, tc.wantMessage) || !strings.HasPrefix(s.Message, "check error-rate: ") {
				t.Fatalf("Judge = %s %q, want %s containing %q", s.Verdict, s.Message, tc.verdict, tc.wantMessage)
			}
			if (s.Verdict == batonv1alpha1.CheckInconclusive) != (s.Reason == batonv1alpha1.CheckInconclusiveReason) {
				t.Fatalf("reason %q for verdict %s", s.Reason, s.Verdict)
			}
		})
	}
}

func TestFoldCountsFailuresToTheLimit(t *testing.T) {
	at := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	check := &batonv1alpha1.VerificationCheck{Name: "error-rate", FailureLimit: 2}
	verdicts := func(vs ...batonv1alpha1.CheckVerdict) []Sample {
		var out []Sample
		for i, v := range vs {
			out = append(out, Sample{Verdict: v, Message: "m", At: at.Add(time.Duration(i) * time.Second)})
		}
		return out
	}
	P, F, I, E := batonv1alpha1.CheckPass, batonv1alpha1.CheckFail, batonv1alpha1.CheckInconclusive, batonv1alpha1.CheckError
	for _, tc := range []struct {
		name         string
		samples      []Sample
		wantFailures int32
		wantBreached bool
	}{
		{"one failure is under the limit", verdicts(P, F), 1, false},
		{"two in a row breach", verdicts(F, F), 2, true},
		{"a pass ends the streak", verdicts(F, P, F), 1, false},
		{"a pass ends a breach", verdicts(F, F, P), 0, false},
		{"inconclusive neither counts nor clears", verdicts(F, I, F), 2, true},
		{"an error neither counts nor clears a breach", verdicts(F, F, E), 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := &batonv1alpha1.CheckStatus{Name: check.Name}
			for _, s := range tc.samples {
				Fold(cs, check, s)
			}
			if cs.ConsecutiveFailures != tc.wantFailures || cs.Breached != tc.wantBreached {
				t.Fatalf("failures %d breached %v, want %d %v", cs.ConsecutiveFailures, cs.Breached, tc.wantFailures, tc.wantBreached)
			}
			if last := tc.samples[len(tc.samples)-1]; !cs.LastEvaluated.Time.Equal(last.At) || cs.Verdict != last.Verdict {
				t.Fatalf("last %v %s, want %v %s", cs.LastEvaluated, cs.Verdict, last.At, last.Verdict)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	checks := []batonv1alpha1.VerificationCheck{{Name: "a"}, {Name: "b"}}
	st := func(a, b batonv1alpha1.CheckStatus) *batonv1alpha1.VerificationStatus {
		a.Name, b.Name = "a", "b"
		return &batonv1alpha1.VerificationStatus{Checks: []batonv1alpha1.CheckStatus{a, b}}
	}
	pass := batonv1alpha1.CheckStatus{Verdict: batonv1alpha1.CheckPass}
	for _, tc := range []struct {
		name   string
		status *batonv1alpha1.VerificationStatus
		want   Summary
	}{
		{"all pass", st(pass, pass), Summary{Healthy: true}},
		{"a failure under the limit holds nothing", st(pass, batonv1alpha1.CheckStatus{Verdict: batonv1alpha1.CheckFail, ConsecutiveFailures: 1}), Summary{Healthy: true}},
		{"not evaluated", st(pass, batonv1alpha1.CheckStatus{}), Summary{Reason: batonv1alpha1.CheckPendingReason, Message: "check b has not been evaluated yet"}},
		{"unreachable", st(batonv1alpha1.CheckStatus{Verdict: batonv1alpha1.CheckError, Reason: batonv1alpha1.PrometheusUnreachableReason, Message: "down"}, pass),
			Summary{Reason: batonv1alpha1.PrometheusUnreachableReason, Message: "down"}},
		{"a breach wins over an error", st(batonv1alpha1.CheckStatus{Verdict: batonv1alpha1.CheckError, Reason: batonv1alpha1.QueryFailedReason},
			batonv1alpha1.CheckStatus{Verdict: batonv1alpha1.CheckFail, Breached: true, Message: "0.3 > 0.01"}),
			Summary{Breached: true, Reason: batonv1alpha1.CheckFailedReason, Message: "0.3 > 0.01"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Summarize(tc.status, checks); got != tc.want {
				t.Fatalf("= %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDueOncePerInterval(t *testing.T) {
	at := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	check := &batonv1alpha1.VerificationCheck{Name: "a", Interval: &metav1.Duration{Duration: 10 * time.Second}}
	cs := &batonv1alpha1.CheckStatus{Name: "a"}
	if due, _ := Due(cs, check, at); !due {
		t.Fatal("a check never evaluated is due")
	}
	cs.LastEvaluated = &metav1.Time{Time: at}
	if due, wait := Due(cs, check, at.Add(4*time.Second)); due || wait != 6*time.Second {
		t.Fatalf("4s after: due %v wait %s, want not due for 6s", due, wait)
	}
	if due, _ := Due(cs, check, at.Add(10*time.Second)); !due {
		t.Fatal("an interval after, it is due")
	}
}

func TestResetStartsOverForANewImageOrRevision(t *testing.T) {
	checks := []batonv1alpha1.VerificationCheck{{Name: "a"}}
	old := &batonv1alpha1.VerificationStatus{Image: "web:1", Checks: []batonv1alpha1.CheckStatus{{Name: "a", Breached: true}, {Name: "gone"}}}
	old.Revision = 2
	if got := Reset(old.DeepCopy(), checks, "web:1", 2); len(got.Checks) != 1 || !got.Checks[0].Breached {
		t.Fatalf("same image and revision: %+v, want the breach kept and the removed check dropped", got)
	}
	if got := Reset(old.DeepCopy(), checks, "web:2", 3); got.Image != "web:2" || got.Revision != 3 || len(got.Checks) != 1 || got.Checks[0].Breached {
		t.Fatalf("new image: %+v, want a fresh status", got)
	}
	// web:1 shipped again (revision 4, after a rollback to web:0 the
	// Environment never saw run): a new release, judged from the start.
	if got := Reset(old.DeepCopy(), checks, "web:1", 4); got.Revision != 4 || got.Checks[0].Breached {
		t.Fatalf("a re-ship of the same image: %+v, want a fresh status", got)
	}
	if Reset(old, nil, "web:1", 2) != nil {
		t.Fatal("without checks there is no status.verification")
	}
}
