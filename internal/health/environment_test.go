package health

import (
	"fmt"
	"strings"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/workload"
)

const (
	imgA = "registry.example.com/web:1.0"
	imgB = "registry.example.com/web:2.0"
	// digestX is the content of tagged; pinned is how pinDigest writes it.
	digestX = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tagged  = "registry.example.com/web:2@" + digestX
	pinned  = "registry.example.com/web@" + digestX
)

var (
	t0       = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	policy   = Policy{Generation: 3, SoakTime: 5 * time.Minute, HistoryLimit: 10}
	complete = workload.Rollout{Phase: workload.PhaseComplete, Message: "successfully rolled out"}
	rolling  = workload.Rollout{Phase: workload.PhaseProgressing, Message: "1 out of 3 new replicas have been updated"}
	failed   = workload.Rollout{Phase: workload.PhaseFailed, Message: `ReplicaSet "web-1" has timed out progressing.`}
)

func mtime(t time.Time) *metav1.Time { m := metav1.NewTime(t); return &m }

func adopted(image string) batonv1alpha1.Revision {
	return batonv1alpha1.Revision{Revision: 1, Image: image, Result: batonv1alpha1.RevisionAdopted}
}

func soaking(since time.Time) metav1.Condition {
	return metav1.Condition{Type: batonv1alpha1.VerifiedCondition, Status: metav1.ConditionUnknown, Reason: batonv1alpha1.SoakingReason, LastTransitionTime: metav1.NewTime(since)}
}

func verifiedTrue() metav1.Condition {
	return metav1.Condition{Type: batonv1alpha1.VerifiedCondition, Status: metav1.ConditionTrue, Reason: batonv1alpha1.VerifiedReason, LastTransitionTime: metav1.NewTime(t0)}
}

// healthyAt is the status of an adopted Environment that runs image healthy.
func healthyAt(image string, conds ...metav1.Condition) batonv1alpha1.EnvironmentStatus {
	return batonv1alpha1.EnvironmentStatus{
		Current:    &batonv1alpha1.CurrentImage{Image: image, Revision: 1, Since: mtime(t0.Add(-time.Hour))},
		History:    []batonv1alpha1.Revision{adopted(image)},
		Conditions: conds,
	}
}

type cond struct {
	status metav1.ConditionStatus
	reason string
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name    string
		status  batonv1alpha1.EnvironmentStatus
		obs     Observation
		policy  Policy
		now     time.Time
		want    map[string]cond // absent conditions map to the zero cond
		history string          // "revision:image:result" joined by spaces
		current string          // "image@revision"
		since   time.Time
		// verified lists status.verifiedImages images, oldest first.
		verified []string
		requeue  time.Duration
		events   string // "Type/Reason" joined by spaces
		message  map[string]string
		check    func(t *testing.T, s *batonv1alpha1.EnvironmentStatus)
	}{
		{
			name: "first sight while rolling out: no revision yet, nothing verified",
			obs:  Observation{Image: imgA, Rollout: rolling}, now: t0,
			want: map[string]cond{
				"Ready": {"False", "RolloutInProgress"}, "Reconciling": {"True", "RolloutInProgress"}, "Verified": {"False", "RolloutInProgress"},
			},
			current: imgA + "@0", since: t0,
			message: map[string]string{"Ready": "1 out of 3 new replicas"},
		},
		{
			name: "first healthy sight adopts revision 1 and starts the soak",
			obs:  Observation{Image: imgA, Rollout: complete}, now: t0,
			want:    map[string]cond{"Ready": {"True", "Healthy"}, "Verified": {"Unknown", "Soaking"}},
			history: "1:" + imgA + ":Adopted", current: imgA + "@1", since: t0,
			requeue: 5 * time.Minute, events: "Normal/Adopted",
			message: map[string]string{"Ready": "at revision 1", "Verified": "verified at 2026-11-26T10:05:00Z"},
		},
		{
			name:   "soak still running: requeue at the exact moment it ends",
			status: healthyAt(imgA, soaking(t0)),
			obs:    Observation{Image: imgA, Rollout: complete}, now: t0.Add(2*time.Minute + 30*time.Second),
			want:    map[string]cond{"Ready": {"True", "Healthy"}, "Verified": {"Unknown", "Soaking"}},
			history: "1:" + imgA + ":Adopted", current: imgA + "@1", since: t0.Add(-time.Hour),
			requeue: 2*time.Minute + 30*time.Second,
		},
		{
			name:   "soak time reached: verified",
			status: healthyAt(imgA, soaking(t0)),
			obs:    Observation{Image: imgA, Rollout: complete}, now: t0.Add(5 * time.Minute),
			want:    map[string]cond{"Ready": {"True", "Healthy"}, "Verified": {"True", "Verified"}},
			history: "1:" + imgA + ":Adopted", current: imgA + "@1", since: t0.Add(-time.Hour),
			verified: []string{imgA}, events: "Normal/Verified",
		},
		{
			name:   "an unhealthy moment during the soak breaks the streak",
			status: healthyAt(imgA, soaking(t0)),
			obs:    Observation{Image: imgA, Rollout: rolling}, now: t0.Add(4 * time.Minute),
			want: map[string]cond{
				"Ready": {"False", "RolloutInProgress"}, "Reconciling": {"True", "RolloutInProgress"}, "Verified": {"False", "RolloutInProgress"},
			},
			history: "1:" + imgA + ":Adopted", current: imgA + "@1", since: t0.Add(-time.Hour),
		},
		{
			name:   "healthy again after a break: a new streak from now",
			status: healthyAt(imgA, metav1.Condition{Type: "Verified", Status: "False", Reason: "RolloutInProgress", LastTransitionTime: metav1.NewTime(t0)}),
			obs:    Observation{Image: imgA, Rollout: complete}, now: t0.Add(6 * time.Minute),
			want:    map[string]cond{"Ready": {"True", "Healthy"}, "Verified": {"Unknown", "Soaking"}},
			history: "1:" + imgA + ":Adopted", current: imgA + "@1", since: t0.Add(-time.Hour),
			requeue: 5 * time.Minute,
		},
		{
			name:   "a failed rollout says why, in the workload's words",
			status: healthyAt(imgA, soaking(t0)),
			obs:    Observation{Image: imgA, Rollout: failed}, now: t0.Add(time.Minute),
			want:    map[string]cond{"Ready": {"False", "RolloutFailed"}, "Verified": {"False", "RolloutFailed"}},
			history: "1:" + imgA + ":Adopted", current: imgA + "@1", since: t0.Add(-time.Hour),
			message: map[string]string{"Ready": `ReplicaSet "web-1" has timed out progressing.`},
		},
		{
			name:   "drift: an image change without a Promotion is recorded as External, not reverted",
			status: healthyAt(imgA, verifiedTrue()),
			obs:    Observation{Image: imgB, Rollout: rolling}, now: t0,
			want: map[string]cond{
				"Ready": {"False", "RolloutInProgress"}, "Reconciling": {"True", "RolloutInProgress"},
				"Verified": {"False", "RolloutInProgress"}, "Drifted": {"True", "ExternalChange"},
			},
			history: "1:" + imgA + ":Adopted 2:" + imgB + ":External", current: imgB + "@2", since: t0,
			events:  "Warning/ExternalChange",
			message: map[string]string{"Drifted": "changed from " + imgA + " to " + imgB},
		},
		{
			name: "drift is never verified, however long it runs healthy",
			status: func() batonv1alpha1.EnvironmentStatus {
				s := healthyAt(imgA, soaking(t0))
				s.History = append(s.History, batonv1alpha1.Revision{Revision: 2, Image: imgB, Result: batonv1alpha1.RevisionExternal})
				s.Current = &batonv1alpha1.CurrentImage{Image: imgB, Revision: 2, Since: mtime(t0)}
				return s
			}(),
			obs: Observation{Image: imgB, Rollout: complete}, now: t0.Add(time.Hour),
			want:    map[string]cond{"Ready": {"True", "Healthy"}, "Verified": {"False", "NotDelivered"}, "Drifted": {"True", "ExternalChange"}},
			history: "1:" + imgA + ":Adopted 2:" + imgB + ":External", current: imgB + "@2", since: t0,
			message: map[string]string{"Verified": "revision 2 is External"},
		},
		{
			name: "drift while a Promotion holds the lease is recorded, and not taken for the Promotion's image",
			status: func() batonv1alpha1.EnvironmentStatus {
				s := healthyAt(imgA, verifiedTrue())
				s.ActivePromotion = &batonv1alpha1.ObjectRef{Name: "p", UID: "p-uid"}
				s.History = append(s.History, batonv1alpha1.Revision{Revision: 2, Image: imgB, Promotion: s.ActivePromotion})
				return s
			}(),
			obs: Observation{Image: tagged, Rollout: complete}, now: t0,
			want:    map[string]cond{"Ready": {"True", "Healthy"}, "Verified": {"False", "NotDelivered"}, "Drifted": {"True", "ExternalChange"}},
			history: "1:" + imgA + ":Adopted 2:" + imgB + ": 3:" + tagged + ":External", current: tagged + "@3", since: t0,
			events: "Warning/ExternalChange",
		},
		{
			name: "a lease whose holder no longer exists is released, its revision closed as Failed",
			status: func() batonv1alpha1.EnvironmentStatus {
				s := healthyAt(imgA, verifiedTrue())
				s.ActivePromotion = &batonv1alpha1.ObjectRef{Name: "gone", UID: "gone-uid"}
				s.History = append(s.History, batonv1alpha1.Revision{Revision: 2, Image: imgB, Promotion: s.ActivePromotion})
				return s
			}(),
			obs: Observation{Image: imgA, Rollout: complete, HolderGone: true}, now: t0,
			want: map[string]cond{"Ready": {"True", "Healthy"}, "Verified": {"Unknown", "Soaking"}}, requeue: 5 * time.Minute,
			history: "1:" + imgA + ":Adopted 2:" + imgB + ":Failed", current: imgA + "@1", since: t0.Add(-time.Hour),
			events: "Warning/LeaseReleased",
			check: func(t *testing.T, s *batonv1alpha1.EnvironmentStatus) {
				if s.ActivePromotion != nil || !strings.Contains(s.History[1].Message, "gone no longer exists") {
					t.Errorf("lease %+v, entry %+v", s.ActivePromotion, s.History[1])
				}
			},
		},
		{
			name: "a soak running for the old image does not carry over to a drifted one",
			status: func() batonv1alpha1.EnvironmentStatus {
				s := healthyAt(imgA, soaking(t0))
				s.ActivePromotion = &batonv1alpha1.ObjectRef{Name: "p", UID: "p-uid"}
				s.History = append(s.History, batonv1alpha1.Revision{Revision: 2, Image: imgB, Promotion: s.ActivePromotion})
				return s
			}(),
			obs: Observation{Image: imgB, Rollout: complete}, now: t0.Add(4 * time.Minute),
			want:    map[string]cond{"Ready": {"True", "Healthy"}, "Verified": {"Unknown", "Soaking"}},
			history: "1:" + imgA + ":Adopted 2:" + imgB + ":", current: imgB + "@2", since: t0.Add(4 * time.Minute),
			requeue: 5 * time.Minute,
		},
		{
			name: "an active Promotion owns the history: only current moves",
			status: func() batonv1alpha1.EnvironmentStatus {
				s := healthyAt(imgA, verifiedTrue())
				s.ActivePromotion = &batonv1alpha1.ObjectRef{Name: "web-2", UID: "u"}
				return s
			}(),
			obs: Observation{Image: imgB, Rollout: complete}, now: t0,
			want:    map[string]cond{"Ready": {"False", "Progressing"}, "Verified": {"False", "NotDelivered"}},
			history: "1:" + imgA + ":Adopted", current: imgB + "@0", since: t0,
			message: map[string]string{"Ready": "waiting for the active Promotion to record its revision", "Verified": "no revision in the history runs it"},
		},
		{
			name: "a verified image stays verified after the environment moves on",
			status: func() batonv1alpha1.EnvironmentStatus {
				s := healthyAt(imgA, verifiedTrue())
				s.VerifiedImages = []batonv1alpha1.VerifiedImage{{Image: imgA, VerifiedAt: metav1.NewTime(t0)}}
				s.ActivePromotion = &batonv1alpha1.ObjectRef{Name: "web-2"}
				s.History = append(s.History, batonv1alpha1.Revision{Revision: 2, Image: imgB})
				return s
			}(),
			obs: Observation{Image: imgB, Rollout: rolling}, now: t0.Add(time.Hour),
			want: map[string]cond{
				"Ready": {"False", "RolloutInProgress"}, "Reconciling": {"True", "RolloutInProgress"}, "Verified": {"False", "RolloutInProgress"},
			},
			history: "1:" + imgA + ":Adopted 2:" + imgB + ":", current: imgB + "@2", since: t0.Add(time.Hour),
			verified: []string{imgA},
		},
		{
			name: "back on an image verified earlier: verified at once, not twice",
			status: func() batonv1alpha1.EnvironmentStatus {
				s := healthyAt(imgB)
				s.VerifiedImages = []batonv1alpha1.VerifiedImage{{Image: imgA, VerifiedAt: metav1.NewTime(t0)}}
				s.History = []batonv1alpha1.Revision{adopted(imgA), {Revision: 2, Image: imgB, Result: "Succeeded"}, {Revision: 3, Image: imgA, Result: "Succeeded", Rollback: true}}
				s.ActivePromotion = &batonv1alpha1.ObjectRef{Name: "rollback"}
				return s
			}(),
			obs: Observation{Image: imgA, Rollout: complete}, now: t0.Add(time.Hour),
			want:    map[string]cond{"Ready": {"True", "Healthy"}, "Verified": {"True", "Verified"}},
			history: "1:" + imgA + ":Adopted 2:" + imgB + ":Succeeded 3:" + imgA + ":Succeeded", current: imgA + "@3", since: t0.Add(time.Hour),
			verified: []string{imgA},
		},
		{
			name: "the history is trimmed to the limit, oldest first",
			status: func() batonv1alpha1.EnvironmentStatus {
				s := healthyAt(imgA, verifiedTrue())
				s.History = []batonv1alpha1.Revision{adopted("web:0"), {Revision: 2, Image: "web:1", Result: "Succeeded"}, {Revision: 3, Image: imgA, Result: "Succeeded"}}
				return s
			}(),
			obs: Observation{Image: imgB, Rollout: rolling}, policy: Policy{Generation: 3, SoakTime: 5 * time.Minute, HistoryLimit: 3}, now: t0,
			want: map[string]cond{
				"Ready": {"False", "RolloutInProgress"}, "Reconciling": {"True", "RolloutInProgress"},
				"Verified": {"False", "RolloutInProgress"}, "Drifted": {"True", "ExternalChange"},
			},
			history: "2:web:1:Succeeded 3:" + imgA + ":Succeeded 4:" + imgB + ":External", current: imgB + "@4", since: t0,
			events: "Warning/ExternalChange",
		},
		{
			name: "verifiedImages keeps the newest 50",
			status: func() batonv1alpha1.EnvironmentStatus {
				s := healthyAt(imgA, soaking(t0))
				for i := range MaxVerifiedImages {
					s.VerifiedImages = append(s.VerifiedImages, batonv1alpha1.VerifiedImage{Image: fmt.Sprintf("web:old-%d", i)})
				}
				return s
			}(),
			obs: Observation{Image: imgA, Rollout: complete}, now: t0.Add(time.Hour),
			want:    map[string]cond{"Ready": {"True", "Healthy"}, "Verified": {"True", "Verified"}},
			history: "1:" + imgA + ":Adopted", current: imgA + "@1", since: t0.Add(-time.Hour),
			verified: func() []string {
				var v []string
				for i := 1; i < MaxVerifiedImages; i++ {
					v = append(v, fmt.Sprintf("web:old-%d", i))
				}
				return append(v, imgA)
			}(),
			events: "Normal/Verified",
		},
		{
			name: "a failed rollout of a verified image: Verified turns False, the image stays verified",
			status: func() batonv1alpha1.EnvironmentStatus {
				s := healthyAt(imgA, verifiedTrue())
				s.VerifiedImages = []batonv1alpha1.VerifiedImage{{Image: imgA, VerifiedAt: metav1.NewTime(t0)}}
				return s
			}(),
			obs: Observation{Image: imgA, Rollout: failed}, now: t0.Add(time.Hour),
			want:    map[string]cond{"Ready": {"False", "RolloutFailed"}, "Verified": {"False", "RolloutFailed"}},
			history: "1:" + imgA + ":Adopted", current: imgA + "@1", since: t0.Add(-time.Hour),
			verified: []string{imgA},
		},
		{
			name: "pinDigest: the workload runs repo@digest of the repo:tag@digest the engine recorded",
			status: batonv1alpha1.EnvironmentStatus{
				Current: &batonv1alpha1.CurrentImage{Image: pinned, Digest: digestX, Since: mtime(t0)},
				History: []batonv1alpha1.Revision{adopted(imgA), {Revision: 2, Image: tagged, Digest: digestX, Result: "Succeeded", Promotion: &batonv1alpha1.ObjectRef{Name: "p", UID: "p-uid"}}},
			},
			obs: Observation{Image: pinned, Rollout: complete}, now: t0.Add(time.Minute),
			want:    map[string]cond{"Ready": {"True", "Healthy"}, "Verified": {"Unknown", "Soaking"}},
			history: "1:" + imgA + ":Adopted 2:" + tagged + ":Succeeded", current: pinned + "@2", since: t0,
			requeue: 5 * time.Minute,
		},
		{
			name: "a change to another spelling of the same digest is not drift, and keeps the revision and the soak",
			status: batonv1alpha1.EnvironmentStatus{
				Current:    &batonv1alpha1.CurrentImage{Image: tagged, Digest: digestX, Revision: 2, Since: mtime(t0)},
				History:    []batonv1alpha1.Revision{adopted(imgA), {Revision: 2, Image: tagged, Digest: digestX, Result: "Succeeded", Promotion: &batonv1alpha1.ObjectRef{Name: "p", UID: "p-uid"}}},
				Conditions: []metav1.Condition{soaking(t0)},
			},
			obs: Observation{Image: pinned, Rollout: complete}, now: t0.Add(time.Minute),
			want:    map[string]cond{"Ready": {"True", "Healthy"}, "Verified": {"Unknown", "Soaking"}},
			history: "1:" + imgA + ":Adopted 2:" + tagged + ":Succeeded", current: pinned + "@2", since: t0,
			requeue: 4 * time.Minute,
		},
		{
			name: "a verified image is recognized by digest under another tag",
			status: func() batonv1alpha1.EnvironmentStatus {
				s := healthyAt(pinned, verifiedTrue())
				s.VerifiedImages = []batonv1alpha1.VerifiedImage{{Image: tagged, Digest: digestX, VerifiedAt: metav1.NewTime(t0)}}
				return s
			}(),
			obs: Observation{Image: pinned, Rollout: complete}, now: t0.Add(time.Hour),
			want:    map[string]cond{"Ready": {"True", "Healthy"}, "Verified": {"True", "Verified"}},
			history: "1:" + pinned + ":Adopted", current: pinned + "@1", since: t0.Add(-time.Hour),
			verified: []string{tagged},
		},
		{
			name: "a Promotion refused at delivery left only a Failed revision: the running image is adopted",
			status: batonv1alpha1.EnvironmentStatus{
				Current: &batonv1alpha1.CurrentImage{Image: imgA, Since: mtime(t0)},
				History: []batonv1alpha1.Revision{{Revision: 1, Image: imgB, Result: "Failed"}},
			},
			obs: Observation{Image: imgA, Rollout: complete}, now: t0.Add(time.Minute),
			want:    map[string]cond{"Ready": {"True", "Healthy"}, "Verified": {"Unknown", "Soaking"}},
			history: "1:" + imgB + ":Failed 2:" + imgA + ":Adopted", current: imgA + "@2", since: t0,
			requeue: 5 * time.Minute, events: "Normal/Adopted",
			message: map[string]string{"Ready": "at revision 2"},
		},
		{
			name: "a refused Promotion that still holds the lease: nothing is adopted yet",
			status: batonv1alpha1.EnvironmentStatus{
				Current:         &batonv1alpha1.CurrentImage{Image: imgA, Since: mtime(t0)},
				History:         []batonv1alpha1.Revision{{Revision: 1, Image: imgB, Result: "Failed"}},
				ActivePromotion: &batonv1alpha1.ObjectRef{Name: "web-2"},
			},
			obs: Observation{Image: imgA, Rollout: complete}, now: t0.Add(time.Minute),
			want:    map[string]cond{"Ready": {"False", "Progressing"}, "Verified": {"False", "NotDelivered"}},
			history: "1:" + imgB + ":Failed", current: imgA + "@0", since: t0,
		},
		{
			name:   "the Pods report a digest: current and the verified image record it",
			status: healthyAt(imgA, soaking(t0)),
			obs:    Observation{Image: imgA, Rollout: complete, Digest: digestX}, now: t0.Add(5 * time.Minute),
			want:    map[string]cond{"Ready": {"True", "Healthy"}, "Verified": {"True", "Verified"}},
			history: "1:" + imgA + ":Adopted", current: imgA + "@1", since: t0.Add(-time.Hour),
			verified: []string{imgA}, events: "Normal/Verified",
			check: func(t *testing.T, s *batonv1alpha1.EnvironmentStatus) {
				if s.Current.Digest != digestX || s.VerifiedImages[0].Digest != digestX {
					t.Errorf("current.digest %q, verifiedImages[0].digest %q; want both %s", s.Current.Digest, s.VerifiedImages[0].Digest, digestX)
				}
			},
		},
		{
			name: "a rollout in progress keeps the digest the Pods last reported",
			status: func() batonv1alpha1.EnvironmentStatus {
				s := healthyAt(imgA, verifiedTrue())
				s.Current.Digest = digestX
				return s
			}(),
			obs: Observation{Image: imgA, Rollout: rolling}, now: t0,
			want: map[string]cond{
				"Ready": {"False", "RolloutInProgress"}, "Reconciling": {"True", "RolloutInProgress"}, "Verified": {"False", "RolloutInProgress"},
			},
			history: "1:" + imgA + ":Adopted", current: imgA + "@1", since: t0.Add(-time.Hour),
			check: func(t *testing.T, s *batonv1alpha1.EnvironmentStatus) {
				if s.Current.Digest != digestX {
					t.Errorf("current.digest = %q, want %s kept", s.Current.Digest, digestX)
				}
			},
		},
		{
			name: "the same tag, other bytes: not verified, drift recorded, a new soak",
			status: func() batonv1alpha1.EnvironmentStatus {
				s := healthyAt(imgA, verifiedTrue())
				s.Current.Digest = "sha256:" + strings.Repeat("1", 64)
				s.History[0].Digest = s.Current.Digest
				s.VerifiedImages = []batonv1alpha1.VerifiedImage{{Image: imgA, Digest: s.Current.Digest, VerifiedAt: metav1.NewTime(t0)}}
				return s
			}(),
			obs: Observation{Image: imgA, Rollout: complete, Digest: digestX}, now: t0,
			want:    map[string]cond{"Ready": {"True", "Healthy"}, "Verified": {"False", "NotDelivered"}, "Drifted": {"True", "ExternalChange"}},
			history: "1:" + imgA + ":Adopted 2:" + imgA + ":External", current: imgA + "@2", since: t0,
			verified: []string{imgA}, events: "Warning/ExternalChange",
			message: map[string]string{"Drifted": imgA + " (sha256:1111", "Verified": "Baton did not deliver it"},
		},
		{
			name:   "the Pods of one revision disagree: said, and not verified",
			status: healthyAt(imgA, soaking(t0)),
			obs:    Observation{Image: imgA, Rollout: complete, DigestsDisagree: "the ready Pods of the current revision run sha256:1 (Pod a) and sha256:2 (Pod b)"}, now: t0.Add(5 * time.Minute),
			want:    map[string]cond{"Ready": {"True", "Healthy"}, "Verified": {"False", "DigestsDisagree"}, "Drifted": {"True", "DigestsDisagree"}},
			history: "1:" + imgA + ":Adopted", current: imgA + "@1", since: t0.Add(-time.Hour),
			message: map[string]string{"Drifted": "(Pod a) and sha256:2 (Pod b)", "Verified": "is not verified: the ready Pods"},
		},
		{
			name:   "a tag the Pods' digest first reveals is the same image: no drift, the soak goes on",
			status: healthyAt(imgA, soaking(t0)),
			obs:    Observation{Image: imgA, Rollout: complete, Digest: digestX}, now: t0.Add(2 * time.Minute),
			want:    map[string]cond{"Ready": {"True", "Healthy"}, "Verified": {"Unknown", "Soaking"}},
			history: "1:" + imgA + ":Adopted", current: imgA + "@1", since: t0.Add(-time.Hour),
			requeue: 3 * time.Minute,
		},
		{
			name: "a Promotion's revision froze other bytes than the Pods run: not verified, whatever the soak",
			status: batonv1alpha1.EnvironmentStatus{
				Current:         &batonv1alpha1.CurrentImage{Image: imgB, Since: mtime(t0)},
				History:         []batonv1alpha1.Revision{adopted(imgA), {Revision: 2, Image: imgB, Digest: "sha256:" + strings.Repeat("1", 64), Promotion: &batonv1alpha1.ObjectRef{Name: "p", UID: "p-uid"}}},
				ActivePromotion: &batonv1alpha1.ObjectRef{Name: "p", UID: "p-uid"},
			},
			obs: Observation{Image: imgB, Rollout: complete, Digest: digestX}, now: t0, policy: Policy{Generation: 3, SoakTime: 0, HistoryLimit: 10},
			want:    map[string]cond{"Ready": {"True", "Healthy"}, "Verified": {"False", "DigestMismatch"}},
			history: "1:" + imgA + ":Adopted 2:" + imgB + ":", current: imgB + "@2", since: t0,
			message: map[string]string{"Verified": "its Pods run " + digestX + ", not sha256:1111"},
		},
		{
			name: "a streak starting mid-second starts at the next whole second, so it never ends early",
			obs:  Observation{Image: imgA, Rollout: complete}, now: t0.Add(400 * time.Millisecond),
			want:    map[string]cond{"Ready": {"True", "Healthy"}, "Verified": {"Unknown", "Soaking"}},
			history: "1:" + imgA + ":Adopted", current: imgA + "@1", since: t0.Add(400 * time.Millisecond),
			requeue: 5*time.Minute + 600*time.Millisecond, events: "Normal/Adopted",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.policy
			if p.HistoryLimit == 0 {
				p = policy
			}
			status := tt.status.DeepCopy()
			d := Decide(status, tt.obs, p, tt.now)

			for _, typ := range []string{"Ready", "Reconciling", "Verified", "Drifted"} {
				var got cond
				if c := apimeta.FindStatusCondition(status.Conditions, typ); c != nil {
					got = cond{c.Status, c.Reason}
					if c.ObservedGeneration != p.Generation {
						t.Errorf("%s observedGeneration = %d, want %d", typ, c.ObservedGeneration, p.Generation)
					}
				}
				if got != tt.want[typ] {
					t.Errorf("%s = %v, want %v", typ, got, tt.want[typ])
				}
			}
			for typ, sub := range tt.message {
				if c := apimeta.FindStatusCondition(status.Conditions, typ); c == nil || !strings.Contains(c.Message, sub) {
					t.Errorf("%s message = %+v, want it to contain %q", typ, c, sub)
				}
			}
			var hist []string
			for _, r := range status.History {
				hist = append(hist, fmt.Sprintf("%d:%s:%s", r.Revision, r.Image, r.Result))
			}
			if got := strings.Join(hist, " "); got != tt.history {
				t.Errorf("history = %q, want %q", got, tt.history)
			}
			if got := fmt.Sprintf("%s@%d", status.Current.Image, status.Current.Revision); got != tt.current {
				t.Errorf("current = %q, want %q", got, tt.current)
			}
			if !status.Current.Since.Time.Equal(tt.since) {
				t.Errorf("current.since = %s, want %s", status.Current.Since, tt.since)
			}
			var verified []string
			for _, v := range status.VerifiedImages {
				verified = append(verified, v.Image)
			}
			if fmt.Sprint(verified) != fmt.Sprint(tt.verified) {
				t.Errorf("verifiedImages = %v, want %v", verified, tt.verified)
			}
			if d.RequeueAfter != tt.requeue {
				t.Errorf("requeueAfter = %s, want %s", d.RequeueAfter, tt.requeue)
			}
			var evs []string
			for _, e := range d.Events {
				evs = append(evs, e.Type+"/"+e.Reason)
			}
			if got := strings.Join(evs, " "); got != tt.events {
				t.Errorf("events = %q, want %q", got, tt.events)
			}
			if tt.check != nil {
				tt.check(t, status)
			}
		})
	}
}

// TestDecideSoakClock drives one Environment through time: the soak restarts
// on every unhealthy moment, and the image is verified only after soakTime
// of unbroken health.
func TestDecideSoakClock(t *testing.T) {
	status := &batonv1alpha1.EnvironmentStatus{}
	steps := []struct {
		after        time.Duration
		rollout      workload.Rollout
		wantVerified metav1.ConditionStatus
		wantRequeue  time.Duration
	}{
		{0, complete, metav1.ConditionUnknown, 5 * time.Minute},
		{4 * time.Minute, complete, metav1.ConditionUnknown, time.Minute},
		{4*time.Minute + 30*time.Second, rolling, metav1.ConditionFalse, 0},
		{5 * time.Minute, complete, metav1.ConditionUnknown, 5 * time.Minute},
		{9*time.Minute + 59*time.Second, complete, metav1.ConditionUnknown, time.Second},
		{10 * time.Minute, complete, metav1.ConditionTrue, 0},
		{11 * time.Minute, failed, metav1.ConditionFalse, 0},
		{12 * time.Minute, complete, metav1.ConditionTrue, 0},
	}
	for i, s := range steps {
		d := Decide(status, Observation{Image: imgA, Rollout: s.rollout}, policy, t0.Add(s.after))
		c := apimeta.FindStatusCondition(status.Conditions, batonv1alpha1.VerifiedCondition)
		if c.Status != s.wantVerified || d.RequeueAfter != s.wantRequeue {
			t.Fatalf("step %d (+%s, %s): Verified=%s requeue=%s; want %s, %s", i, s.after, s.rollout.Phase, c.Status, d.RequeueAfter, s.wantVerified, s.wantRequeue)
		}
	}
	if len(status.VerifiedImages) != 1 || !status.VerifiedImages[0].VerifiedAt.Time.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("verifiedImages = %+v, want %s verified at +10m", status.VerifiedImages, imgA)
	}
}
