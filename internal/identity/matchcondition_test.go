package identity_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// The webhooks' matchConditions (CEL, in the kubebuilder markers of
// webhook.go) name the terminal phases by hand: a phase added to
// PromotionPhase.IsTerminal but not there would let anyone remove the
// engine's finalizer from it without the webhook seeing the change.
func TestMatchConditionsNameExactlyTheTerminalPhases(t *testing.T) {
	manifest, err := os.ReadFile("../../config/webhook/manifests.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lists := regexp.MustCompile(`oldObject\.status\.phase in \[([^\]]*)\]`).FindAllStringSubmatch(string(manifest), -1)
	if len(lists) != 2 {
		t.Fatalf("want the terminal phases in both webhooks' matchConditions, found %d lists", len(lists))
	}
	all := []batonv1alpha1.PromotionPhase{
		batonv1alpha1.PromotionPending, batonv1alpha1.PromotionWaitingForApproval, batonv1alpha1.PromotionQueued,
		batonv1alpha1.PromotionPromoting, batonv1alpha1.PromotionRollingOut, batonv1alpha1.PromotionSucceeded,
		batonv1alpha1.PromotionFailed, batonv1alpha1.PromotionCanceled, batonv1alpha1.PromotionSuperseded,
	}
	var want []string
	for _, p := range all {
		if p.IsTerminal() {
			want = append(want, string(p))
		}
	}
	for _, l := range lists {
		var got []string
		for _, q := range strings.Split(l[1], ",") {
			got = append(got, strings.Trim(strings.TrimSpace(q), `'"`))
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("matchCondition names %v as terminal, PromotionPhase.IsTerminal says %v", got, want)
		}
	}
}
