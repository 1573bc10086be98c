package controllers

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

func TestDecideAutoPromote(t *testing.T) {
	const web1, web2 = "registry.example.com/web:1", "registry.example.com/web:2"
	upstream := &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Name: "staging"}}
	upstream.Status.VerifiedImages = []batonv1alpha1.VerifiedImage{
		{Image: web1, VerifiedAt: metav1.NewTime(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))},
		{Image: web2, VerifiedAt: metav1.NewTime(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))},
	}
	env := func(tune func(*batonv1alpha1.Environment)) *batonv1alpha1.Environment {
		e := &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "production"},
			Spec: batonv1alpha1.EnvironmentSpec{Upstream: "staging", AutoPromote: true}}
		e.Status.Current = &batonv1alpha1.CurrentImage{Image: web1, Revision: 1}
		if tune != nil {
			tune(e)
		}
		return e
	}
	cases := []struct {
		name      string
		env       *batonv1alpha1.Environment
		upstream  *batonv1alpha1.Environment
		promotes  string
		reason    string
		mentioned string
	}{
		{"promotes the newest verified image", env(nil), upstream, web2, batonv1alpha1.AutoPromotedReason, web2},
		{"has nothing to do when it runs it", env(func(e *batonv1alpha1.Environment) { e.Status.Current.Image = web2 }), upstream, "", batonv1alpha1.UpToDateReason, web2},
		{"never ships a rejected image again, nor an older one", env(func(e *batonv1alpha1.Environment) {
			e.Status.RejectedImages = []batonv1alpha1.RejectedImage{{Image: web2}}
		}), upstream, "", batonv1alpha1.ImageRejectedReason, "Held"},
		{"waits while suspended", env(func(e *batonv1alpha1.Environment) { e.Spec.Suspend = true }), upstream, "", batonv1alpha1.SuspendedReason, "spec.suspend"},
		{"waits for a verified image", env(nil), &batonv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Name: "staging"}}, "", batonv1alpha1.UpstreamNotVerifiedReason, `"staging"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			promo, reason, message := decideAutoPromote(tc.env, tc.upstream)
			got := ""
			if promo != nil {
				got = promo.Spec.Image
				if promo.Spec.RequestedBy.Username != ControllerUser || promo.Annotations[batonv1alpha1.AutoPromoteKeyAnnotation] == "" {
					t.Errorf("Promotion %+v is not autoPromote's", promo)
				}
			}
			if got != tc.promotes || reason != tc.reason || !strings.Contains(message, tc.mentioned) {
				t.Errorf("decideAutoPromote = %q, %s, %q; want %q, %s, mentioning %q", got, reason, message, tc.promotes, tc.reason, tc.mentioned)
			}
		})
	}
}
