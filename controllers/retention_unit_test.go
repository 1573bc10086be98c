package controllers

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestOldestBeyond(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	meta := func(name string, second int, deleting bool) metav1.PartialObjectMetadata {
		m := metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0.Add(time.Duration(second) * time.Second))}}
		if deleting {
			m.DeletionTimestamp = &m.CreationTimestamp
		}
		return m
	}
	names := func(items []metav1.PartialObjectMetadata) []string {
		var out []string
		for _, i := range items {
			out = append(out, i.Name)
		}
		return out
	}
	cases := []struct {
		name  string
		items []metav1.PartialObjectMetadata
		limit int
		want  []string
	}{
		{"within the limit", []metav1.PartialObjectMetadata{meta("a", 1, false), meta("b", 2, false)}, 2, nil},
		{"the oldest go first, whatever the order listed", []metav1.PartialObjectMetadata{meta("c", 3, false), meta("a", 1, false), meta("d", 4, false), meta("b", 2, false)}, 2, []string{"a", "b"}},
		{"a tie on the second is broken by name", []metav1.PartialObjectMetadata{meta("y", 1, false), meta("x", 1, false), meta("z", 2, false)}, 1, []string{"x", "y"}},
		{"one already being deleted does not count", []metav1.PartialObjectMetadata{meta("a", 1, true), meta("b", 2, false), meta("c", 3, false)}, 2, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := names(oldestBeyond(tc.items, tc.limit))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("oldestBeyond = %v, want %v", got, tc.want)
			}
		})
	}
}
