package v1alpha1

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestFinishedLabelValue(t *testing.T) {
	long := strings.Repeat("a", 60) + ".example." + strings.Repeat("b", 60)
	cases := []struct {
		name, env string
		same      bool
	}{
		{"a short name is itself", "production", true},
		{"a dotted name within 63 is itself", "eu.production", true},
		{"a name of 64 is hashed", strings.Repeat("p", 64), false},
		{"a long dotted name is hashed", long, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := FinishedLabelValue(tc.env)
			if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
				t.Fatalf("%q is not a label value: %v", v, errs)
			}
			if (v == tc.env) != tc.same {
				t.Fatalf("FinishedLabelValue(%q) = %q", tc.env, v)
			}
		})
	}
	if FinishedLabelValue(long) == FinishedLabelValue(long+"c") {
		t.Fatal("two long names share a value")
	}
}
