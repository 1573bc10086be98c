package identity_test

import (
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/identity"
)

func TestCheckMetadata(t *testing.T) {
	const key = batonv1alpha1.AutoPromoteKeyAnnotation
	const finished = batonv1alpha1.FinishedLabel
	stored := func(phase batonv1alpha1.PromotionPhase) *batonv1alpha1.Promotion {
		return &batonv1alpha1.Promotion{
			ObjectMeta: metav1.ObjectMeta{
				Name: "p", Finalizers: []string{batonv1alpha1.PromotionFinalizer},
				Annotations: map[string]string{key: "production/web:1", "team": "shop"},
			},
			Status: batonv1alpha1.PromotionStatus{Phase: phase},
		}
	}
	edit := func(phase batonv1alpha1.PromotionPhase, f func(p *batonv1alpha1.Promotion)) (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
		old := stored(phase)
		sent := old.DeepCopy()
		f(sent)
		return old, sent
	}
	owner := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "gone", UID: "dangling"}
	cases := []struct {
		name      string
		op        admissionv1.Operation
		byManager bool
		change    func() (old, sent *batonv1alpha1.Promotion)
		// field is the field the denial names; empty means allowed.
		field string
	}{
		{"a label", admissionv1.Update, false, func() (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
			return edit(batonv1alpha1.PromotionQueued, func(p *batonv1alpha1.Promotion) { p.Labels = map[string]string{"x": "y"} })
		}, ""},
		{"another annotation", admissionv1.Update, false, func() (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
			return edit(batonv1alpha1.PromotionQueued, func(p *batonv1alpha1.Promotion) { p.Annotations["team"] = "payments" })
		}, ""},
		{"the auto-promote-key changed", admissionv1.Update, false, func() (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
			return edit(batonv1alpha1.PromotionQueued, func(p *batonv1alpha1.Promotion) { p.Annotations[key] = "production/web:2" })
		}, "metadata.annotations[" + key + "]"},
		{"the auto-promote-key removed", admissionv1.Update, false, func() (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
			return edit(batonv1alpha1.PromotionSucceeded, func(p *batonv1alpha1.Promotion) { delete(p.Annotations, key) })
		}, "metadata.annotations[" + key + "]"},
		{"a source-commit added", admissionv1.Update, false, func() (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
			return edit(batonv1alpha1.PromotionQueued, func(p *batonv1alpha1.Promotion) {
				p.Annotations[batonv1alpha1.SourceCommitAnnotation] = "abc"
			})
		}, "metadata.annotations[" + batonv1alpha1.SourceCommitAnnotation + "]"},
		{"the auto-promote-key on create", admissionv1.Create, false, func() (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
			return nil, stored("")
		}, "metadata.annotations[" + key + "]"},
		{"the auto-promote-key on create by the manager", admissionv1.Create, true, func() (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
			return nil, stored("")
		}, ""},
		{"an ownerReference on create", admissionv1.Create, false, func() (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
			p := &batonv1alpha1.Promotion{ObjectMeta: metav1.ObjectMeta{Name: "p", OwnerReferences: []metav1.OwnerReference{owner}}}
			return nil, p
		}, "metadata.ownerReferences"},
		{"a dangling ownerReference added", admissionv1.Update, false, func() (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
			return edit(batonv1alpha1.PromotionRollingOut, func(p *batonv1alpha1.Promotion) { p.OwnerReferences = []metav1.OwnerReference{owner} })
		}, "metadata.ownerReferences"},
		{"the finalizer removed while RollingOut", admissionv1.Update, false, func() (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
			return edit(batonv1alpha1.PromotionRollingOut, func(p *batonv1alpha1.Promotion) { p.Finalizers = nil })
		}, "metadata.finalizers[" + batonv1alpha1.PromotionFinalizer + "]"},
		{"the finalizer removed before the first reconcile", admissionv1.Update, false, func() (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
			return edit("", func(p *batonv1alpha1.Promotion) { p.Finalizers = []string{"other"} })
		}, "metadata.finalizers[" + batonv1alpha1.PromotionFinalizer + "]"},
		{"the finalizer removed by the manager", admissionv1.Update, true, func() (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
			return edit(batonv1alpha1.PromotionRollingOut, func(p *batonv1alpha1.Promotion) { p.Finalizers = nil })
		}, ""},
		{"the finalizer removed once Succeeded", admissionv1.Update, false, func() (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
			return edit(batonv1alpha1.PromotionSucceeded, func(p *batonv1alpha1.Promotion) { p.Finalizers = nil })
		}, ""},
		{"the finished label on a live Promotion", admissionv1.Update, false, func() (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
			return edit(batonv1alpha1.PromotionQueued, func(p *batonv1alpha1.Promotion) { p.Labels = map[string]string{finished: "production"} })
		}, "metadata.labels[" + finished + "]"},
		{"the finished label on create", admissionv1.Create, false, func() (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
			p := stored("")
			p.Annotations, p.Labels = nil, map[string]string{finished: "production"}
			return nil, p
		}, "metadata.labels[" + finished + "]"},
		{"the finished label removed", admissionv1.Update, false, func() (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
			old, sent := edit(batonv1alpha1.PromotionSucceeded, func(p *batonv1alpha1.Promotion) { p.Labels = nil })
			old.Labels = map[string]string{finished: "production"}
			return old, sent
		}, "metadata.labels[" + finished + "]"},
		{"the finished label changed", admissionv1.Update, false, func() (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
			old, sent := edit(batonv1alpha1.PromotionSucceeded, func(p *batonv1alpha1.Promotion) { p.Labels = map[string]string{finished: "staging"} })
			old.Labels = map[string]string{finished: "production"}
			return old, sent
		}, "metadata.labels[" + finished + "]"},
		{"the finished label set by the manager", admissionv1.Update, true, func() (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
			return edit(batonv1alpha1.PromotionSucceeded, func(p *batonv1alpha1.Promotion) {
				p.Finalizers, p.Labels = nil, map[string]string{finished: "production"}
			})
		}, ""},
		{"the finished label dropped by a resume (spec.resume) of a finished Promotion", admissionv1.Update, false, func() (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
			old, sent := edit(batonv1alpha1.PromotionFailed, func(p *batonv1alpha1.Promotion) { p.Labels, p.Spec.Resume = nil, true })
			old.Labels = map[string]string{finished: "production"}
			return old, sent
		}, ""},
		{"the finished label changed by a resume", admissionv1.Update, false, func() (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
			old, sent := edit(batonv1alpha1.PromotionFailed, func(p *batonv1alpha1.Promotion) {
				p.Labels, p.Spec.Resume = map[string]string{finished: "staging"}, true
			})
			old.Labels = map[string]string{finished: "production"}
			return old, sent
		}, "metadata.labels[" + finished + "]"},
		{"the finished label dropped after the resume", admissionv1.Update, false, func() (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
			old, sent := edit(batonv1alpha1.PromotionFailed, func(p *batonv1alpha1.Promotion) { p.Labels = nil })
			old.Labels, old.Spec.Resume, sent.Spec.Resume = map[string]string{finished: "production"}, true, true
			return old, sent
		}, "metadata.labels[" + finished + "]"},
		{"an update without the stored object", admissionv1.Update, false, func() (*batonv1alpha1.Promotion, *batonv1alpha1.Promotion) {
			return nil, stored("")
		}, "object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old, sent := tc.change()
			d := identity.CheckMetadata(identity.MetadataRequest{Operation: tc.op, Old: old, New: sent, ByManager: tc.byManager})
			switch {
			case tc.field == "" && d != nil:
				t.Fatalf("denied: %v", d)
			case tc.field != "" && d == nil:
				t.Fatalf("allowed, want a denial naming %s", tc.field)
			case tc.field != "" && (d.Field != tc.field || !strings.Contains(d.Error(), tc.field) || len(d.Message) < 20):
				t.Fatalf("denial %q, want one naming %s and saying why", d.Error(), tc.field)
			}
		})
	}
}
