package git

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

var userinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@`)

// RedactURLs removes the userinfo from every URL in s.
func RedactURLs(s string) string {
	return userinfo.ReplaceAllString(s, "${1}")
}

// secretFragments are the substrings of a Secret value to hide: the value,
// and each long line of it (a PEM key is many lines, and an error could
// quote one).
func secretFragments(v []byte) []string {
	s := strings.TrimSpace(string(v))
	if len(s) < 4 {
		return nil
	}
	out := []string{s}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			out = append(out, line)
		}
	}
	return out
}

// Redact removes URL userinfo and every secret value from s.
func (c *Credentials) Redact(s string) string {
	if c == nil {
		return RedactURLs(s)
	}
	return redact(s, c.secrets)
}

// redact removes userinfo from URLs and every secret value from s.
func redact(s string, secrets []string) string {
	s = RedactURLs(s)
	// Longest first, so that a line of a key does not leave the rest.
	sorted := append([]string(nil), secrets...)
	sort.Slice(sorted, func(i, j int) bool { return len(sorted[i]) > len(sorted[j]) })
	for _, v := range sorted {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	return s
}

// redactedError keeps the cause for errors.Is and errors.As, but its text
// never carries a credential.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Wrap is fmt.Errorf with %w whose text is redacted.
func (c *Credentials) Wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...) + ": " + err.Error()
	return &redactedError{msg: c.Redact(msg), err: err}
}
