package identity_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/identity"
)

var markerKey = []byte("0123456789abcdef0123456789abcdef")

// sealed returns a Promotion as the webhook stamps it at issued: with a
// create marker when uid is empty, else with an update marker on that UID.
func sealed(t *testing.T, uid types.UID, issued time.Time) *batonv1alpha1.Promotion {
	t.Helper()
	p := &batonv1alpha1.Promotion{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "p", UID: uid},
		Spec:       batonv1alpha1.PromotionSpec{Environment: "production", Image: "web:1", RequestedBy: &batonv1alpha1.UserInfo{Username: "alice"}},
	}
	m, err := identity.Sign(p, markerKey, issued)
	if err != nil {
		t.Fatal(err)
	}
	p.Annotations = map[string]string{batonv1alpha1.AdmissionMarkerAnnotation: m}
	return p
}

func TestVerifyBindsTheAdmission(t *testing.T) {
	issued := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	created := func(p *batonv1alpha1.Promotion, at time.Time) *batonv1alpha1.Promotion {
		p.UID, p.CreationTimestamp = "uid-1", metav1.NewTime(at)
		return p
	}
	cases := []struct {
		name string
		// promo is the stored Promotion as the engine reads it.
		promo func(t *testing.T) *batonv1alpha1.Promotion
		want  error
	}{
		{"a create marker on the Promotion created at admission", func(t *testing.T) *batonv1alpha1.Promotion {
			return created(sealed(t, "", issued), issued.Add(time.Second))
		}, nil},
		{"a create marker at the edge of the window", func(t *testing.T) *batonv1alpha1.Promotion {
			return created(sealed(t, "", issued), issued.Add(identity.CreateWindow))
		}, nil},
		{"a create marker on a Promotion created later (replayed, restored, harvested)", func(t *testing.T) *batonv1alpha1.Promotion {
			return created(sealed(t, "", issued), issued.Add(identity.CreateWindow+time.Second))
		}, identity.ErrMarkerStale},
		{"a create marker issued after the Promotion was created", func(t *testing.T) *batonv1alpha1.Promotion {
			return created(sealed(t, "", issued), issued.Add(-identity.CreateWindow-time.Second))
		}, identity.ErrMarkerStale},
		{"a create marker on an object without a creationTimestamp", func(t *testing.T) *batonv1alpha1.Promotion {
			return sealed(t, "", issued)
		}, identity.ErrMarkerStale},
		{"an update marker on the object it was issued for", func(t *testing.T) *batonv1alpha1.Promotion {
			return created(sealed(t, "uid-1", issued.Add(time.Hour)), issued)
		}, nil},
		{"an update marker on a re-created namesake (another UID)", func(t *testing.T) *batonv1alpha1.Promotion {
			p := sealed(t, "uid-1", issued.Add(time.Hour))
			p.UID = "uid-2"
			return p
		}, identity.ErrMarkerMismatch},
		{"an update marker on an object without a UID", func(t *testing.T) *batonv1alpha1.Promotion {
			p := sealed(t, "uid-1", issued)
			p.UID = ""
			return p
		}, identity.ErrMarkerMismatch},
		{"a create marker relabelled as an update marker", func(t *testing.T) *batonv1alpha1.Promotion {
			p := created(sealed(t, "", issued), issued)
			p.Annotations[batonv1alpha1.AdmissionMarkerAnnotation] = strings.Replace(p.Annotations[batonv1alpha1.AdmissionMarkerAnnotation], ":create:", ":update:", 1)
			return p
		}, identity.ErrMarkerMismatch},
		{"a create marker with a moved issue time", func(t *testing.T) *batonv1alpha1.Promotion {
			p := created(sealed(t, "", issued), issued.Add(time.Hour))
			m := p.Annotations[batonv1alpha1.AdmissionMarkerAnnotation]
			parts := strings.Split(m, ":")
			parts[2] = strconv.FormatInt(issued.Add(time.Hour).Unix(), 10)
			p.Annotations[batonv1alpha1.AdmissionMarkerAnnotation] = strings.Join(parts, ":")
			return p
		}, identity.ErrMarkerMismatch},
		{"a spec edited after signing", func(t *testing.T) *batonv1alpha1.Promotion {
			p := created(sealed(t, "", issued), issued)
			p.Spec.Image = "web:evil"
			return p
		}, identity.ErrMarkerMismatch},
		{"a forged approval added after signing", func(t *testing.T) *batonv1alpha1.Promotion {
			p := created(sealed(t, "uid-1", issued), issued)
			p.Spec.Approvals = []batonv1alpha1.Approval{{UserInfo: batonv1alpha1.UserInfo{Username: "bob"}, Image: "web:1"}}
			return p
		}, identity.ErrMarkerMismatch},
		{"a v1 marker from an earlier Baton", func(t *testing.T) *batonv1alpha1.Promotion {
			p := created(sealed(t, "", issued), issued)
			p.Annotations[batonv1alpha1.AdmissionMarkerAnnotation] = "v1:AAAA"
			return p
		}, identity.ErrMarkerOutdated},
		{"garbage", func(t *testing.T) *batonv1alpha1.Promotion {
			p := created(sealed(t, "", issued), issued)
			p.Annotations[batonv1alpha1.AdmissionMarkerAnnotation] = "v2:create:soon:!!"
			return p
		}, identity.ErrMarkerMismatch},
		{"no marker", func(t *testing.T) *batonv1alpha1.Promotion {
			p := created(sealed(t, "", issued), issued)
			delete(p.Annotations, batonv1alpha1.AdmissionMarkerAnnotation)
			return p
		}, identity.ErrMarkerMissing},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := identity.Verify(tc.promo(t), markerKey)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if !errors.Is(err, identity.ErrNotAdmitted) {
				t.Fatalf("%v does not match ErrNotAdmitted: the engine would retry it instead of reporting NotAdmitted", err)
			}
		})
	}
}

func TestVerifyWithAShortKeyIsNotANotAdmittedVerdict(t *testing.T) {
	p := sealed(t, "uid-1", time.Now())
	err := identity.Verify(p, []byte("short"))
	if err == nil || errors.Is(err, identity.ErrNotAdmitted) {
		t.Fatalf("Verify with a short key = %v, want an error that is not ErrNotAdmitted", err)
	}
}
