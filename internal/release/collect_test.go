package release

import (
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestToCollect(t *testing.T) {
	base := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	job := func(name string, minute int, finished bool) batchv1.Job {
		j := batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(base.Add(time.Duration(minute) * time.Minute))}}
		if finished {
			j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
		}
		return j
	}
	jobs := []batchv1.Job{job("c", 3, true), job("a", 1, true), job("stuck", 0, false), job("d", 4, true), job("b", 2, true)}
	var got []string
	for _, j := range ToCollect(jobs, 2) {
		got = append(got, j.Name)
	}
	if len(got) != 2 || got[0] != "b" || got[1] != "a" {
		t.Errorf("collected %v, want [b a]: beyond the 2 newest, finished only", got)
	}
	if c := ToCollect(jobs, 5); c != nil {
		t.Errorf("collected %v within the limit", c)
	}
}
