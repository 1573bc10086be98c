package outcome

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	stalled := fmt.Errorf("push: %w", Stall("AuthenticationFailed", "the token for %s was refused", "git.example.com"))
	waiting := fmt.Errorf("deliver: %w", Wait(time.Minute, "AwaitingMerge", "waiting for a merge"))
	plain := errors.New("connection reset")

	if s, ok := AsStalled(stalled); !ok || s.Reason != "AuthenticationFailed" || s.Message != "the token for git.example.com was refused" {
		t.Errorf("AsStalled(%v) = %+v, %v", stalled, s, ok)
	}
	if w, ok := AsWaiting(waiting); !ok || w.RequeueAfter != time.Minute || w.Reason != "AwaitingMerge" {
		t.Errorf("AsWaiting(%v) = %+v, %v", waiting, w, ok)
	}
	if _, ok := AsStalled(waiting); ok {
		t.Errorf("a Waiting error is not Stalled")
	}
	for _, tc := range []struct {
		err  error
		want bool
	}{{nil, false}, {stalled, false}, {waiting, false}, {plain, true}} {
		if got := Retryable(tc.err); got != tc.want {
			t.Errorf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
