package window

import (
	"fmt"
	"strings"
	"time"
	// The IANA database inside the binary: a window's time zone works on a
	// machine without /usr/share/zoneinfo (a distroless image, a bare CI).
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
	"github.com/teambition/rrule-go"
	"k8s.io/apimachinery/pkg/util/validation/field"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

// MaxDuration is the longest a window may stay open after each opening.
const MaxDuration = 365 * 24 * time.Hour

// maxMerge bounds how many overlapping openings one open span is merged
// from (a "* * * * *" schedule with a duration of an hour overlaps itself
// sixty times).
const maxMerge = 10000

// rruleEpoch is where an RRULE without DTSTART starts counting, midnight in
// the window's time zone: BYHOUR and BYMINUTE then say the time of day.
var rruleEpoch = [3]int{2000, 1, 1}

// Span is one opening of a window, [Start, End).
type Span struct {
	Start, End time.Time
}

// Schedule is a DeployWindow's spec, parsed.
type Schedule struct {
	// Location is the time zone the schedule is read in.
	Location *time.Location
	// next is the first opening strictly after t; zero when there is none.
	next     func(t time.Time) time.Time
	duration time.Duration
	fixed    *Span
}

// Parse checks a DeployWindow's spec and parses it. Each error names the
// field, under spec.
func Parse(spec batonv1alpha1.DeployWindowSpec) (*Schedule, field.ErrorList) {
	root := field.NewPath("spec")
	var errs field.ErrorList
	loc, err := time.LoadLocation(spec.TimeZone)
	if err != nil || spec.TimeZone == "Local" {
		errs = append(errs, field.Invalid(root.Child("timeZone"), spec.TimeZone,
			`is not an IANA time zone (such as "Europe/Berlin" or "UTC")`))
		loc = time.UTC
	}
	s := &Schedule{Location: loc}
	if spec.Duration != nil {
		s.duration = spec.Duration.Duration
		if s.duration <= 0 || s.duration > MaxDuration {
			errs = append(errs, field.Invalid(root.Child("duration"), spec.Duration.Duration.String(), "must be more than 0 and at most 8760h (a year)"))
		}
	}
	switch {
	case spec.Schedule != "":
		next, err := parseCron(spec.Schedule)
		if err != nil {
			errs = append(errs, field.Invalid(root.Child("schedule"), spec.Schedule, err.Error()))
		}
		s.next = next
	case spec.RRule != "":
		next, err := parseRRule(spec.RRule, loc)
		if err != nil {
			errs = append(errs, field.Invalid(root.Child("rrule"), spec.RRule, err.Error()))
		}
		s.next = next
	case spec.Start != nil && spec.End != nil:
		s.fixed = &Span{Start: spec.Start.Time, End: spec.End.Time}
		if !s.fixed.End.After(s.fixed.Start) {
			errs = append(errs, field.Invalid(root.Child("end"), spec.End.String(), "must be after spec.start"))
		}
	default:
		errs = append(errs, field.Required(root.Child("schedule"), "one of schedule, rrule, or start and end is required"))
	}
	if s.next != nil && spec.Duration == nil {
		errs = append(errs, field.Required(root.Child("duration"), "how long the window stays open after each opening, such as 48h"))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// parseCron accepts a standard 5-field expression or a descriptor that
// names a time of day (@daily, @weekly...). @every is refused: it counts
// from whenever it is asked, not from a wall clock, so it opens at no time
// a person could name.
func parseCron(expr string) (func(time.Time) time.Time, error) {
	if strings.HasPrefix(expr, "@every") {
		return nil, fmt.Errorf("@every is not a time of day; write the minute and hour, such as \"0 18 * * 5\"")
	}
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return nil, fmt.Errorf("put the time zone in spec.timeZone, not in the schedule")
	}
	sched, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("is not a cron expression (minute hour day-of-month month day-of-week): %w", err)
	}
	return sched.Next, nil
}

// parseRRule reads an RFC 5545 RRULE, with an optional DTSTART line, in loc.
// Only daily and coarser frequencies: a finer rule counted from DTSTART
// would cost a walk over every hour since then at each evaluation.
func parseRRule(expr string, loc *time.Location) (func(time.Time) time.Time, error) {
	opt, err := rrule.StrToROptionInLocation(expr, loc)
	if err != nil {
		return nil, fmt.Errorf("is not an RFC 5545 RRULE: %w", err)
	}
	switch opt.Freq {
	case rrule.DAILY, rrule.WEEKLY, rrule.MONTHLY, rrule.YEARLY:
	default:
		return nil, fmt.Errorf("FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY")
	}
	if opt.Dtstart.IsZero() {
		opt.Dtstart = time.Date(rruleEpoch[0], time.Month(rruleEpoch[1]), rruleEpoch[2], 0, 0, 0, 0, loc)
	}
	r, err := rrule.NewRRule(*opt)
	if err != nil {
		return nil, fmt.Errorf("is not a valid RRULE: %w", err)
	}
	return func(t time.Time) time.Time { return r.After(t, false) }, nil
}

// At is the opening of the window that holds now (open), or else the next
// one to begin (open is false; a zero Span when the window never opens
// again). Overlapping openings of a recurring window count as one span.
func (s *Schedule) At(now time.Time) (span Span, open bool) {
	if s.fixed != nil {
		switch {
		case now.Before(s.fixed.Start):
			return *s.fixed, false
		case now.Before(s.fixed.End):
			return *s.fixed, true
		}
		return Span{}, false
	}
	local := now.In(s.Location)
	start := s.next(local.Add(-s.duration))
	if start.IsZero() {
		return Span{}, false
	}
	span = Span{Start: start, End: start.Add(s.duration)}
	if start.After(now) {
		return span, false
	}
	for i, n := 0, s.next(start); i < maxMerge && !n.IsZero() && !n.After(span.End); i, n = i+1, s.next(n) {
		if e := n.Add(s.duration); e.After(span.End) {
			span.End = e
		}
	}
	return span, true
}

// Format writes t as a person in the window's time zone reads it:
// "2026-12-27T00:00 Europe/Berlin".
func (s *Schedule) Format(t time.Time) string {
	return t.In(s.Location).Format("2006-01-02T15:04") + " " + s.Location.String()
}
