package source

import (
	"strings"
	"testing"

	batonv1alpha1 "github.com/baton-dev/baton/api/v1alpha1"
	"github.com/baton-dev/baton/internal/outcome"
)

const sha = "0123456789abcdef0123456789abcdef01234567"

func TestImageTemplate(t *testing.T) {
	tests := []struct {
		template string
		want     string
		err      string
	}{
		{"registry.example.com/web:{{ .ShortSHA }}", "registry.example.com/web:0123456", ""},
		{"registry.example.com/web:{{ .SHA }}", "registry.example.com/web:" + sha, ""},
		{"registry.example.com/web:{{ .Branch }}-{{ .ShortSHA }}", "registry.example.com/web:main-0123456", ""},
		{`registry.example.com/web:{{ if eq .Branch "main" }}{{ .ShortSHA }}{{ else }}x{{ end }}`, "registry.example.com/web:0123456", ""},
		{"registry.example.com/web:{{ .ShortSHA", "", "does not parse"},
		{"registry.example.com/web:{{ .Sha }}", "", "can't evaluate field Sha"},
		{"registry.example.com/web:{{ range 10 }}{{ end }}", "", "range is not allowed"},
		{`{{ define "x" }}a{{ end }}registry.example.com/web:1`, "", "define and block are not allowed"},
		{`{{ template "x" }}`, "", "template actions are not allowed"},
		{"Registry.example.com/WEB:{{ .ShortSHA }}", "", "not an image reference"},
		{"registry.example.com/web:{{ .ShortSHA }} ", "", "surrounding space"},
		{"{{ printf \"%0600d\" 1 }}", "", "renders more than 512 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.template, func(t *testing.T) {
			tmpl, err := ParseImageTemplate(tt.template)
			var got string
			if err == nil {
				got, err = tmpl.Render(NewCommit(sha, "main"))
			}
			if tt.err == "" {
				if err != nil || got != tt.want {
					t.Fatalf("got %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			e, ok := outcome.AsStalled(err)
			if !ok || e.Reason != batonv1alpha1.InvalidImageTemplateReason || !strings.Contains(e.Message, tt.err) {
				t.Fatalf("got %v, want %s containing %q", err, batonv1alpha1.InvalidImageTemplateReason, tt.err)
			}
		})
	}
}

func TestReasonIsBounded(t *testing.T) {
	h := History{Head: CommitInfo{SHA: sha, Subject: strings.Repeat("s", 300)}, MoreSkipped: 40}
	for range MaxSkipped {
		h.Skipped = append(h.Skipped, CommitInfo{SHA: sha, Subject: strings.Repeat("x", 200)})
	}
	r := Reason("main", h)
	if len(r) > maxReason {
		t.Fatalf("reason is %d bytes, more than %d", len(r), maxReason)
	}
	if !strings.Contains(r, "skipped 50 earlier commit(s)") {
		t.Errorf("reason does not count the skipped commits: %s", r)
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"fix: a\r\nb", 100, "fix: a  b"},
		{"\x1b[31mred\x1b[0m", 100, "[31mred [0m"},
		{"bad \xff utf8", 100, "bad ? utf8"},
		{"αβγδε", 3, "αβγ…"},
	}
	for _, tt := range tests {
		if got := Sanitize(tt.in, tt.n); got != tt.want {
			t.Errorf("Sanitize(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestPromotionName(t *testing.T) {
	if got := PromotionName("staging", sha); got != "staging-src-0123456789ab" {
		t.Errorf("PromotionName = %q", got)
	}
	long := strings.Repeat("a", 253)
	if got := PromotionName(long, sha); len(got) > 253 {
		t.Errorf("name is %d characters", len(got))
	}
}
