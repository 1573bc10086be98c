package dora

import (
	"fmt"
	"sort"
	"time"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// Summary is the four measures over an Environment's recorded history (its
// last spec.historyLimit revisions), for `kubectl promote status`. The
// manager's metrics count the same things since it started.
type Summary struct {
	// Revisions is how many history entries Baton made (not Adopted or
	// External); Span is from the oldest one's start to now.
	Revisions int
	Span      time.Duration
	// Deploys are the successful ones, rollbacks included.
	Deploys int
	// LeadTimes are, per forward success whose image upstream verified, the
	// time from that verification to the success.
	LeadTimes []time.Duration
	// Changes and Failures make the change failure rate.
	Changes, Failures int
	// Restores are the times to restore, one per success after a failure.
	Restores []time.Duration
}

// Summarize measures env's history; upstream (nil for an entry
// Environment) gives the lead time's start.
func Summarize(env, upstream *batonv1alpha1.Environment, now time.Time) Summary {
	var s Summary
	history := env.Status.History
	for i, h := range history {
		if h.Result == batonv1alpha1.RevisionAdopted || h.Result == batonv1alpha1.RevisionExternal || h.StartedAt == nil {
			continue
		}
		if s.Revisions == 0 {
			s.Span = now.Sub(h.StartedAt.Time)
		}
		s.Revisions++
		succeeded := h.Result == batonv1alpha1.RevisionSucceeded || h.Result == batonv1alpha1.RevisionRolledBack
		if succeeded {
			s.Deploys++
		}
		if !h.Rollback && (succeeded || h.Result == batonv1alpha1.RevisionFailed) {
			s.Changes++
			if !succeeded || h.Result == batonv1alpha1.RevisionRolledBack {
				s.Failures++
			}
		}
		if !succeeded || h.FinishedAt == nil {
			continue
		}
		if upstream != nil && !h.Rollback {
			if at, ok := firstVerified(upstream, h.Image, h.Digest); ok {
				s.LeadTimes = append(s.LeadTimes, h.FinishedAt.Sub(at))
			}
		}
		if start, ok := RestoreStart(history, i, h.Rollback); ok {
			s.Restores = append(s.Restores, h.FinishedAt.Sub(start))
		}
	}
	return s
}

// String is the one line `kubectl promote status` prints.
func (s Summary) String() string {
	if s.Revisions == 0 {
		return "no revisions made by Baton yet"
	}
	days := s.Span.Hours() / 24
	freq := fmt.Sprintf("%d deploys in %s", s.Deploys, round(s.Span))
	if days >= 1 {
		freq += fmt.Sprintf(" (%.1f/day)", float64(s.Deploys)/days)
	}
	lead := "lead time n/a"
	if n := len(s.LeadTimes); n > 0 {
		lead = fmt.Sprintf("lead time %s (median of %d)", round(median(s.LeadTimes)), n)
	}
	cfr := "change failure rate n/a"
	if s.Changes > 0 {
		cfr = fmt.Sprintf("change failure rate %.0f%% (%d of %d)", 100*float64(s.Failures)/float64(s.Changes), s.Failures, s.Changes)
	}
	restore := "time to restore n/a"
	if n := len(s.Restores); n > 0 {
		restore = fmt.Sprintf("time to restore %s (mean of %d)", round(mean(s.Restores)), n)
	}
	return fmt.Sprintf("%s, %s, %s, %s; over the last %d revisions", freq, lead, cfr, restore, s.Revisions)
}

func median(ds []time.Duration) time.Duration {
	sorted := append([]time.Duration(nil), ds...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	return sorted[len(sorted)/2]
}

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

// round keeps a duration short: its two largest units, in days past two days.
func round(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%ds", d/time.Minute, d%time.Minute/time.Second)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}
