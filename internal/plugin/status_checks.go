package plugin

import (
	"fmt"
	"io"
	"time"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// writeChecks lists each check of spec.verification with its last result:
// verdict, value, how long ago, failures in a row and the message.
func writeChecks(w io.Writer, env *batonv1alpha1.Environment, now time.Time) {
	checks := env.Spec.Verification.Checks
	if len(checks) == 0 {
		return
	}
	v := env.Status.Verification
	healthy := "no healthy streak"
	if v != nil && v.HealthySince != nil {
		healthy = fmt.Sprintf("healthy for %s", age(v.HealthySince, now))
	}
	fmt.Fprintf(w, "Checks:	%d (%s)\n", len(checks), healthy)
	for _, c := range checks {
		var cs *batonv1alpha1.CheckStatus
		if v != nil {
			for i := range v.Checks {
				if v.Checks[i].Name == c.Name {
					cs = &v.Checks[i]
				}
			}
		}
		if cs == nil || cs.Verdict == "" {
			fmt.Fprintf(w, "  %s:	not evaluated yet\n", c.Name)
			continue
		}
		fmt.Fprintf(w, "  %s:	%s %s (%s ago, %d failing in a row): %s\n",
			c.Name, cs.Verdict, orText(cs.Value, "-"), age(cs.LastEvaluated, now), cs.ConsecutiveFailures, cs.Message)
	}
}
