package image

import "testing"

const (
	sha   = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	other = "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

func TestSame(t *testing.T) {
	cases := []struct {
		name             string
		a, aDig, b, bDig string
		want             bool
	}{
		{"identical tags", "registry.example.com/web:1.0", "", "registry.example.com/web:1.0", "", true},
		{"different tags", "registry.example.com/web:1.0", "", "registry.example.com/web:1.1", "", false},
		{"docker hub defaults", "nginx", "", "index.docker.io/library/nginx:latest", "", true},
		{"docker.io alias", "docker.io/library/nginx:1.27", "", "nginx:1.27", "", true},
		{"different repositories", "registry.example.com/web:1.0", "", "registry.example.com/api:1.0", "", false},
		{"same digest, different tags", "registry.example.com/web:1.0@" + sha, "", "registry.example.com/web:latest@" + sha, "", true},
		{"a pinned reference and the tagged one it was pinned from", "registry.example.com/web@" + sha, "", "registry.example.com/web:2@" + sha, "", true},
		{"digest given beside the tag", "registry.example.com/web:1.0", sha, "registry.example.com/web@" + sha, "", true},
		{"digests differ though tags match", "registry.example.com/web:1.0", sha, "registry.example.com/web:1.0", other, false},
		{"one side without digest falls back to names", "registry.example.com/web:1.0", sha, "registry.example.com/web:1.0", "", true},
		{"unparsable never matches", "UPPER/case:x", "", "UPPER/case:x", "", false},
		{"empty never matches", "", "", "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Same(tc.a, tc.aDig, tc.b, tc.bDig); got != tc.want {
				t.Errorf("Same(%q, %q, %q, %q) = %v, want %v", tc.a, tc.aDig, tc.b, tc.bDig, got, tc.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		ref, name, digest string
	}{
		{"nginx", "index.docker.io/library/nginx:latest", ""},
		{"registry.example.com:5000/web:1", "registry.example.com:5000/web:1", ""},
		{"registry.example.com/web:1@" + sha, "registry.example.com/web@" + sha, sha},
		{"registry.example.com/web@" + sha, "registry.example.com/web@" + sha, sha},
	}
	for _, tc := range cases {
		got, err := Parse(tc.ref)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.ref, err)
		}
		if got != (Ref{Ref: tc.ref, Name: tc.name, Digest: tc.digest}) {
			t.Errorf("Parse(%q) = %+v, want name %q digest %q", tc.ref, got, tc.name, tc.digest)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, ref := range []string{"", " web:1", "web:1 ", "UPPER/case:x", "web:tag:extra", "web@sha256:short"} {
		if _, err := Parse(ref); err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", ref)
		}
	}
}

func TestPin(t *testing.T) {
	cases := []struct {
		ref, digest, want string
	}{
		{"registry.example.com/web:1.0", sha, "registry.example.com/web@" + sha},
		{"registry.example.com:5000/web:1.0", sha, "registry.example.com:5000/web@" + sha},
		{"registry.example.com:5000/web", sha, "registry.example.com:5000/web@" + sha},
		{"registry.example.com/web:1.0@" + sha, "", "registry.example.com/web@" + sha},
		{"registry.example.com/web@" + sha, "", "registry.example.com/web@" + sha},
		{"registry.example.com/web:1.0", "", "registry.example.com/web:1.0"},
	}
	for _, tc := range cases {
		if got := Pin(tc.ref, tc.digest); got != tc.want {
			t.Errorf("Pin(%q, %q) = %q, want %q", tc.ref, tc.digest, got, tc.want)
		}
	}
}

func TestDigestOf(t *testing.T) {
	cases := map[string]string{
		"registry.example.com/web:1@" + sha:            sha,
		"registry.example.com/web@" + sha:              sha,
		"registry.example.com/web:1":                   "",
		"UPPER/case@" + sha:                            "",
		"registry.example.com/web@sha256:not-a-digest": "",
		"": "",
	}
	for ref, want := range cases {
		if got := DigestOf(ref); got != want {
			t.Errorf("DigestOf(%q) = %q, want %q", ref, got, want)
		}
	}
}

// FuzzParse checks that whatever Parse accepts, Same recognizes as itself
// and Pin keeps parsable.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{"nginx", "registry.example.com:5000/web:1", "web:1@" + sha, "web@" + sha, "", "a b"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		r, err := Parse(ref)
		if err != nil {
			return
		}
		if !Same(ref, "", ref, "") {
			t.Errorf("Same(%q, %q) = false", ref, ref)
		}
		if r.Digest == "" {
			return
		}
		pinned := Pin(ref, "")
		if !Same(pinned, "", ref, "") {
			t.Errorf("Pin(%q) = %q, which is not the same image", ref, pinned)
		}
	})
}
