package manifest

import (
	"errors"
	"testing"
)

func TestParseImage(t *testing.T) {
	tests := []struct {
		ref     string
		want    Image
		wantErr bool
	}{
		{ref: "nginx:1.25", want: Image{Repository: "nginx", Tag: "1.25"}},
		{ref: "ghcr.io/acme/web:1.4.0", want: Image{Repository: "ghcr.io/acme/web", Tag: "1.4.0"}},
		{ref: "localhost:5000/web:v1", want: Image{Repository: "localhost:5000/web", Tag: "v1"}},
		{ref: "localhost:5000/web@" + digestA, want: Image{Repository: "localhost:5000/web", Digest: digestA}},
		{ref: "ghcr.io/acme/web:1.4.0@" + digestA, want: Image{Repository: "ghcr.io/acme/web", Tag: "1.4.0", Digest: digestA}},
		{ref: "", wantErr: true},
		{ref: "nginx", wantErr: true},
		{ref: "localhost:5000/web", wantErr: true},
		{ref: "ghcr.io/acme/web:", wantErr: true},
		{ref: "ghcr.io/Acme/web:1", wantErr: true},
		{ref: "web@sha256:123", wantErr: true},
		{ref: "web:bad tag", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := ParseImage(tt.ref)
			if tt.wantErr {
				var e *Error
				if err == nil || !errors.As(err, &e) || e.Field != "image" {
					t.Fatalf("ParseImage(%q) = %+v, %v; want an *Error on field image", tt.ref, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseImage(%q) = %+v, %v; want %+v", tt.ref, got, err, tt.want)
			}
			if got.String() != tt.ref {
				t.Errorf("String() = %q, want %q", got.String(), tt.ref)
			}
		})
	}
}

func TestImageReference(t *testing.T) {
	tests := []struct {
		img  Image
		pin  bool
		want string
	}{
		{Image{Repository: "web", Tag: "1"}, false, "web:1"},
		{Image{Repository: "web", Tag: "1"}, true, "web:1"},
		{Image{Repository: "web", Tag: "1", Digest: digestA}, false, "web:1"},
		{Image{Repository: "web", Tag: "1", Digest: digestA}, true, "web@" + digestA},
		{Image{Repository: "web", Digest: digestA}, false, "web@" + digestA},
	}
	for _, tt := range tests {
		if got := tt.img.reference(tt.pin); got != tt.want {
			t.Errorf("%+v.reference(%v) = %q, want %q", tt.img, tt.pin, got, tt.want)
		}
	}
}

// TestImageValidate covers an Image built by hand, as Apply's callers may:
// its parts must be the parts its reference splits into.
func TestImageValidate(t *testing.T) {
	for _, img := range []Image{
		{Repository: "localhost", Tag: "5000/web"},
		{Repository: "web:1", Tag: "2"},
		{Repository: "web", Tag: "1@" + digestA},
		{Repository: "web"},
	} {
		var e *Error
		if err := img.validate(); err == nil || !errors.As(err, &e) || e.Field != "image" {
			t.Errorf("%+v.validate() = %v, want an *Error on field image", img, err)
		}
	}
	if err := (Image{Repository: "localhost:5000/web", Tag: "1", Digest: digestA}).validate(); err != nil {
		t.Errorf("a valid image was refused: %v", err)
	}
}
