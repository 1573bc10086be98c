package sampleapp

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestServeFollowsTheImage sends 100 requests to a workload and counts the
// 500s: how each image behaves is the promise the verification tests build on.
func TestServeFollowsTheImage(t *testing.T) {
	cases := []struct {
		namespace, image, behaviour string
		want500                     int
	}{
		{"staging", "registry.example/web:1.4", "", 0},
		{"staging", "registry.example/web:1.4-errors", "", 30},
		{"staging", "registry.example/web:1.4-errors-in-production", "", 0},
		{"production", "registry.example/web:1.4-errors-in-production", "", 30},
		{"production", "registry.example/web:1.4-errors-in-prod", "", 0},
		{"production", "registry.example/web@sha256:0123", "", 0},
		{"production", "registry.example/web:1.4", "errors", 30},
	}
	for _, c := range cases {
		a := New()
		a.SetImage(c.namespace, "web", c.image, c.behaviour)
		h := a.Handler()
		got := 0
		for range 100 {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/"+c.namespace+"/web", nil))
			if rec.Code == http.StatusInternalServerError {
				got++
			}
		}
		if got != c.want500 {
			t.Errorf("%s in %s (behaviour %q): %d answers of 100 were 500, want %d", c.image, c.namespace, c.behaviour, got, c.want500)
		}
	}
	rec := httptest.NewRecorder()
	New().Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/staging/unknown", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("an unknown workload answered %d, want 404", rec.Code)
	}
}
