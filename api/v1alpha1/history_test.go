package v1alpha1

import (
	"strings"
	"testing"
)

func TestHistoryHelpers(t *testing.T) {
	s := EnvironmentStatus{Current: &CurrentImage{Revision: 7}}
	if got := s.NextRevision(); got != 8 {
		t.Errorf("NextRevision with only the current revision = %d, want 8 (its entry may have been dropped)", got)
	}
	for i := int64(8); i <= 12; i++ {
		s.AppendRevision(Revision{Revision: i}, 3)
	}
	if len(s.History) != 3 || s.History[0].Revision != 10 || s.NextRevision() != 13 {
		t.Errorf("history after appending 5 with limit 3 = %+v", s.History)
	}
	if got := RevisionMessage(strings.Repeat("x", 2000)); len(got) != MaxRevisionMessageLength || !strings.HasSuffix(got, "...") {
		t.Errorf("RevisionMessage kept %d bytes", len(got))
	}
	env := &Environment{}
	if env.HistoryLimitOrDefault() != DefaultHistoryLimit {
		t.Errorf("the default history limit is %d", env.HistoryLimitOrDefault())
	}
}
