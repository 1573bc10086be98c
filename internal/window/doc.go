// Package window evaluates DeployWindow schedules (cron, RFC 5545 RRULE or a
// fixed span, in an IANA time zone) against a clock: is a window open now,
// and when does that change.
package window
