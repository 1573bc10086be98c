package window

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func recurring(schedule, rule, zone string, d time.Duration) batonv1alpha1.DeployWindowSpec {
	return batonv1alpha1.DeployWindowSpec{Type: batonv1alpha1.WindowDeny, Schedule: schedule, RRule: rule,
		TimeZone: zone, Duration: &metav1.Duration{Duration: d}}
}

// TestAt walks a fake clock across time zones and daylight-saving changes.
// Europe/Berlin springs forward on 2026-03-29 at 02:00 (to 03:00) and falls
// back on 2026-10-25 at 03:00 (to 02:00); America/New_York springs forward
// on 2026-03-08 at 02:00.
func TestAt(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	ny := mustZone(t, "America/New_York")
	at := func(loc *time.Location, y int, mo time.Month, d, h, mi int) time.Time {
		return time.Date(y, mo, d, h, mi, 0, 0, loc)
	}
	cases := []struct {
		name      string
		spec      batonv1alpha1.DeployWindowSpec
		now       time.Time
		open      bool
		start     time.Time
		end       time.Time
		formatEnd string
	}{
		{
			name:  "nightly window open, in its zone",
			spec:  recurring("0 22 * * *", "", "Europe/Berlin", 8*time.Hour),
			now:   at(berlin, 2026, 6, 10, 23, 0),
			open:  true,
			start: at(berlin, 2026, 6, 10, 22, 0), end: at(berlin, 2026, 6, 11, 6, 0),
			formatEnd: "2026-06-11T06:00 Europe/Berlin",
		},
		{
			name:  "the same instant in UTC is read in Berlin time",
			spec:  recurring("0 22 * * *", "", "Europe/Berlin", 8*time.Hour),
			now:   time.Date(2026, 6, 10, 21, 0, 0, 0, time.UTC), // 23:00 CEST
			open:  true,
			start: at(berlin, 2026, 6, 10, 22, 0), end: at(berlin, 2026, 6, 11, 6, 0),
		},
		{
			name:  "closed: the next opening",
			spec:  recurring("0 22 * * *", "", "Europe/Berlin", 8*time.Hour),
			now:   at(berlin, 2026, 6, 10, 7, 0),
			start: at(berlin, 2026, 6, 10, 22, 0), end: at(berlin, 2026, 6, 11, 6, 0),
		},
		{
			name:  "the end is exclusive",
			spec:  recurring("0 22 * * *", "", "Europe/Berlin", 8*time.Hour),
			now:   at(berlin, 2026, 6, 11, 6, 0),
			start: at(berlin, 2026, 6, 11, 22, 0), end: at(berlin, 2026, 6, 12, 6, 0),
		},
		{
			name:  "spring forward: a 2h window from 00:30 ends at 03:30 local, two elapsed hours",
			spec:  recurring("30 0 * * *", "", "Europe/Berlin", 2*time.Hour),
			now:   at(berlin, 2026, 3, 29, 1, 0),
			open:  true,
			start: at(berlin, 2026, 3, 29, 0, 30), end: at(berlin, 2026, 3, 29, 3, 30),
			formatEnd: "2026-03-29T03:30 Europe/Berlin",
		},
		{
			name:  "spring forward: 02:29 local does not exist; the clock reads 03:29 and the window is still open",
			spec:  recurring("30 0 * * *", "", "Europe/Berlin", 2*time.Hour),
			now:   time.Date(2026, 3, 29, 1, 29, 0, 0, time.UTC), // 03:29 CEST
			open:  true,
			start: at(berlin, 2026, 3, 29, 0, 30), end: at(berlin, 2026, 3, 29, 3, 30),
		},
		{
			name:  "spring forward: a window meant to end at 02:30 (1h30m from 01:00) ends at 03:30 CEST",
			spec:  recurring("0 1 * * *", "", "Europe/Berlin", 90*time.Minute),
			now:   time.Date(2026, 3, 29, 1, 15, 0, 0, time.UTC), // 03:15 CEST, 75 minutes in
			open:  true,
			start: at(berlin, 2026, 3, 29, 1, 0), end: time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC),
			formatEnd: "2026-03-29T03:30 Europe/Berlin",
		},
		{
			name:  "fall back: a 2h window from 02:00 CEST ends at 03:00 CET, the second 03:00 never comes twice",
			spec:  recurring("0 1 * * *", "", "Europe/Berlin", 3*time.Hour),
			now:   time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC), // 02:30 CET, the second pass
			open:  true,
			start: at(berlin, 2026, 10, 25, 1, 0), end: time.Date(2026, 10, 25, 2, 0, 0, 0, time.UTC),
			formatEnd: "2026-10-25T03:00 Europe/Berlin",
		},
		{
			name:  "New York: Friday 17:00 for 63h, across the spring-forward Sunday, ends Monday 08:00 EDT",
			spec:  recurring("0 17 * * 5", "", "America/New_York", 63*time.Hour),
			now:   at(ny, 2026, 3, 8, 12, 0),
			open:  true,
			start: at(ny, 2026, 3, 6, 17, 0), end: at(ny, 2026, 3, 9, 9, 0),
			formatEnd: "2026-03-09T09:00 America/New_York",
		},
		{
			name:  "overlapping openings merge into one span",
			spec:  recurring("0 9,10 * * *", "", "UTC", 90*time.Minute),
			now:   time.Date(2026, 6, 10, 9, 15, 0, 0, time.UTC),
			open:  true,
			start: time.Date(2026, 6, 10, 9, 0, 0, 0, time.UTC), end: time.Date(2026, 6, 10, 11, 30, 0, 0, time.UTC),
		},
		{
			name:  "RRULE every Friday 16:00 Berlin for the weekend",
			spec:  recurring("", "FREQ=WEEKLY;BYDAY=FR;BYHOUR=16;BYMINUTE=0;BYSECOND=0", "Europe/Berlin", 64*time.Hour),
			now:   at(berlin, 2026, 12, 5, 10, 0), // a Saturday
			open:  true,
			start: at(berlin, 2026, 12, 4, 16, 0), end: at(berlin, 2026, 12, 7, 8, 0),
		},
		{
			name:  "RRULE closed: next Friday",
			spec:  recurring("", "FREQ=WEEKLY;BYDAY=FR;BYHOUR=16;BYMINUTE=0;BYSECOND=0", "Europe/Berlin", 64*time.Hour),
			now:   at(berlin, 2026, 12, 8, 10, 0),
			start: at(berlin, 2026, 12, 11, 16, 0), end: at(berlin, 2026, 12, 14, 8, 0),
		},
		{
			name: "RRULE with DTSTART and COUNT, over: never again",
			spec: recurring("", "DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY;COUNT=2", "UTC", time.Hour),
			now:  time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC),
		},
		{
			name: "fixed window, holiday freeze, open",
			spec: batonv1alpha1.DeployWindowSpec{Type: batonv1alpha1.WindowDeny, TimeZone: "Europe/Berlin",
				Start: &metav1.Time{Time: at(berlin, 2026, 12, 23, 0, 0)}, End: &metav1.Time{Time: at(berlin, 2026, 12, 27, 0, 0)}},
			now:   at(berlin, 2026, 12, 24, 12, 0),
			open:  true,
			start: at(berlin, 2026, 12, 23, 0, 0), end: at(berlin, 2026, 12, 27, 0, 0),
			formatEnd: "2026-12-27T00:00 Europe/Berlin",
		},
		{
			name: "fixed window, past",
			spec: batonv1alpha1.DeployWindowSpec{Type: batonv1alpha1.WindowDeny,
				Start: &metav1.Time{Time: at(berlin, 2026, 12, 23, 0, 0)}, End: &metav1.Time{Time: at(berlin, 2026, 12, 27, 0, 0)}},
			now: at(berlin, 2027, 1, 2, 0, 0),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, errs := Parse(tc.spec)
			if len(errs) > 0 {
				t.Fatalf("Parse: %v", errs.ToAggregate())
			}
			span, open := s.At(tc.now)
			if open != tc.open || !span.Start.Equal(tc.start) || !span.End.Equal(tc.end) {
				t.Fatalf("At(%s) = %v [%s, %s), want %v [%s, %s)", tc.now, open, span.Start, span.End, tc.open, tc.start, tc.end)
			}
			if tc.formatEnd != "" {
				if got := s.Format(span.End); got != tc.formatEnd {
					t.Fatalf("Format(end) = %q, want %q", got, tc.formatEnd)
				}
			}
		})
	}
}

// TestParseBadInput: each bad spec is refused, naming the field.
func TestParseBadInput(t *testing.T) {
	hour := &metav1.Duration{Duration: time.Hour}
	cases := []struct {
		name  string
		spec  batonv1alpha1.DeployWindowSpec
		field string
		says  string
	}{
		{"bad cron", batonv1alpha1.DeployWindowSpec{Schedule: "0 25 * * *", Duration: hour}, "spec.schedule", "cron"},
		{"cron with six fields", batonv1alpha1.DeployWindowSpec{Schedule: "0 0 18 * * 5", Duration: hour}, "spec.schedule", "cron"},
		{"@every", batonv1alpha1.DeployWindowSpec{Schedule: "@every 1h", Duration: hour}, "spec.schedule", "@every"},
		{"time zone in the schedule", batonv1alpha1.DeployWindowSpec{Schedule: "CRON_TZ=Europe/Berlin 0 18 * * 5", Duration: hour}, "spec.schedule", "spec.timeZone"},
		{"bad RRULE", batonv1alpha1.DeployWindowSpec{RRule: "FREQ=SOMETIMES", Duration: hour}, "spec.rrule", "RRULE"},
		{"RRULE too fine", batonv1alpha1.DeployWindowSpec{RRule: "FREQ=MINUTELY", Duration: hour}, "spec.rrule", "FREQ"},
		{"unknown time zone", batonv1alpha1.DeployWindowSpec{Schedule: "0 18 * * 5", Duration: hour, TimeZone: "Mars/Olympus_Mons"}, "spec.timeZone", "IANA"},
		{"Local is not a zone", batonv1alpha1.DeployWindowSpec{Schedule: "0 18 * * 5", Duration: hour, TimeZone: "Local"}, "spec.timeZone", "IANA"},
		{"duration 0", batonv1alpha1.DeployWindowSpec{Schedule: "0 18 * * 5", Duration: &metav1.Duration{}}, "spec.duration", "more than 0"},
		{"duration over a year", batonv1alpha1.DeployWindowSpec{Schedule: "0 18 * * 5", Duration: &metav1.Duration{Duration: 8761 * time.Hour}}, "spec.duration", "a year"},
		{"no duration", batonv1alpha1.DeployWindowSpec{Schedule: "0 18 * * 5"}, "spec.duration", "how long"},
		{"nothing", batonv1alpha1.DeployWindowSpec{}, "spec.schedule", "required"},
		{"end before start", batonv1alpha1.DeployWindowSpec{Start: &metav1.Time{Time: time.Unix(2000, 0)}, End: &metav1.Time{Time: time.Unix(1000, 0)}}, "spec.end", "after"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := Parse(tc.spec)
			if len(errs) == 0 {
				t.Fatal("Parse accepted it")
			}
			if errs[0].Field != tc.field || !strings.Contains(errs[0].Error(), tc.says) {
				t.Fatalf("first error = %q (field %s), want field %s saying %q", errs[0].Error(), errs[0].Field, tc.field, tc.says)
			}
		})
	}
}
