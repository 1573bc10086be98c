package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Event is one phase change of a Promotion, as sent to a Webhook receiver:
// everything in it is already in the Promotion's status.
type Event struct {
	// Version is the payload's format, "baton.dev/v1".
	Version      string    `json:"version"`
	Namespace    string    `json:"namespace"`
	Environment  string    `json:"environment"`
	Promotion    string    `json:"promotion"`
	UID          string    `json:"uid"`
	Kind         string    `json:"kind"`
	FromPhase    string    `json:"fromPhase"`
	Phase        string    `json:"phase"`
	Reason       string    `json:"reason,omitempty"`
	Message      string    `json:"message,omitempty"`
	Image        string    `json:"image,omitempty"`
	FromImage    string    `json:"fromImage,omitempty"`
	Revision     int64     `json:"revision,omitempty"`
	Commit       string    `json:"commit,omitempty"`
	CommitURL    string    `json:"commitURL,omitempty"`
	PromotionURL string    `json:"promotionURL,omitempty"`
	RequestedBy  string    `json:"requestedBy,omitempty"`
	ApprovedBy   []string  `json:"approvedBy,omitempty"`
	Time         time.Time `json:"time"`
}

// PayloadVersion is Event.Version.
const PayloadVersion = "baton.dev/v1"

// Headers of a Webhook delivery. The signature is HMAC-SHA256, keyed by
// the Secret's signingKey, over the timestamp, a dot, and the exact body;
// a receiver recomputes it and refuses a timestamp older than a few
// minutes, so a captured delivery cannot be replayed.
const (
	SignatureHeader = "X-Baton-Signature"
	TimestampHeader = "X-Baton-Timestamp"
	EventHeader     = "X-Baton-Event"
)

// Sign is the X-Baton-Signature value of body sent at ts.
func Sign(key []byte, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a delivery as a receiver should: the signature matches
// and the timestamp is within maxAge of now.
func Verify(key []byte, timestamp, signature string, body []byte, now time.Time, maxAge time.Duration) error {
	secs, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%s %q is not a Unix time", TimestampHeader, timestamp)
	}
	ts := time.Unix(secs, 0)
	if d := now.Sub(ts); d > maxAge || d < -maxAge {
		return fmt.Errorf("%s is %s away from now, more than %s: a replay?", TimestampHeader, d.Round(time.Second), maxAge)
	}
	if !hmac.Equal([]byte(Sign(key, ts, body)), []byte(signature)) {
		return fmt.Errorf("%s does not match the body", SignatureHeader)
	}
	return nil
}

// webhookBody is the JSON a Webhook receiver gets.
func webhookBody(ev Event) ([]byte, error) { return json.Marshal(ev) }

// slackBody is an incoming-webhook message: text (the notification's
// fallback) and blocks (a section in mrkdwn, with links to the commit and
// the Promotion).
func slackBody(ev Event) ([]byte, error) {
	headline := fmt.Sprintf("%s/%s: Promotion %s is %s", ev.Namespace, ev.Environment, ev.Promotion, ev.Phase)
	lines := []string{"*" + slackEscape(headline) + "*"}
	if ev.Image != "" {
		lines = append(lines, fmt.Sprintf("Image `%s` (was `%s`)", slackEscape(ev.Image), slackEscape(orDash(ev.FromImage))))
	}
	if ev.Reason != "" {
		lines = append(lines, slackEscape(ev.Reason+": "+ev.Message))
	}
	lines = append(lines, fmt.Sprintf("Requested by %s; approved by %s", slackEscape(orDash(ev.RequestedBy)), slackEscape(orDash(strings.Join(ev.ApprovedBy, ", ")))))
	if ev.Commit != "" {
		lines = append(lines, "Commit "+slackLink(ev.CommitURL, ev.Commit))
	}
	if ev.PromotionURL != "" {
		lines = append(lines, slackLink(ev.PromotionURL, "Promotion "+ev.Promotion))
	}
	msg := map[string]any{
		"text": headline,
		"blocks": []any{map[string]any{
			"type": "section",
			"text": map[string]any{"type": "mrkdwn", "text": strings.Join(lines, "\n")},
		}},
	}
	return json.Marshal(msg)
}

// slackEscape escapes the three characters Slack's mrkdwn gives meaning.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func slackLink(url, text string) string {
	if url == "" {
		return "`" + slackEscape(text) + "`"
	}
	return "<" + url + "|" + slackEscape(text) + ">"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
