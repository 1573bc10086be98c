package promote

import "testing"

func TestSameImage(t *testing.T) {
	const sha = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	const other = "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
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
		{"digest given beside the tag", "registry.example.com/web:1.0", sha, "registry.example.com/web@" + sha, "", true},
		{"digests differ though tags match", "registry.example.com/web:1.0", sha, "registry.example.com/web:1.0", other, false},
		{"one side without digest falls back to names", "registry.example.com/web:1.0", sha, "registry.example.com/web:1.0", "", true},
		{"unparsable never matches", "UPPER/case:x", "", "UPPER/case:x", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := SameImage(tc.a, tc.aDig, tc.b, tc.bDig); got != tc.want {
				t.Errorf("SameImage(%q, %q, %q, %q) = %v, want %v", tc.a, tc.aDig, tc.b, tc.bDig, got, tc.want)
			}
		})
	}
}

func TestParseImageRejects(t *testing.T) {
	for _, ref := range []string{"", " web:1", "web:1 ", "UPPER/case:x", "web:tag:extra", "web@sha256:short"} {
		if _, err := ParseImage(ref); err == nil {
			t.Errorf("ParseImage(%q) succeeded, want an error", ref)
		}
	}
}

func TestPinnedRef(t *testing.T) {
	const sha = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	cases := []struct {
		image, digest string
		pin           bool
		want          string
	}{
		{"registry.example.com/web:1.0", sha, false, "registry.example.com/web:1.0"},
		{"registry.example.com/web:1.0", sha, true, "registry.example.com/web@" + sha},
		{"registry.example.com:5000/web:1.0", sha, true, "registry.example.com:5000/web@" + sha},
		{"registry.example.com:5000/web", sha, true, "registry.example.com:5000/web@" + sha},
		{"registry.example.com/web:1.0@" + sha, "", true, "registry.example.com/web@" + sha},
		{"registry.example.com/web:1.0", "", true, "registry.example.com/web:1.0"},
	}
	for _, tc := range cases {
		if got := PinnedRef(tc.image, tc.digest, tc.pin); got != tc.want {
			t.Errorf("PinnedRef(%q, %q, %v) = %q, want %q", tc.image, tc.digest, tc.pin, got, tc.want)
		}
	}
}
