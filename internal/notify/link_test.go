package notify

import (
	"strings"
	"testing"
)

func TestPromotionLink(t *testing.T) {
	for _, tc := range []struct {
		template, want, wantErr string
	}{
		{template: ""},
		{template: "https://console.example.com/k8s/ns/{namespace}/promotion.baton.dev~v1alpha1~Promotion/{name}",
			want: "https://console.example.com/k8s/ns/shop/promotion.baton.dev~v1alpha1~Promotion/production-20261202-1"},
		{template: "http://127.0.0.1:8080/#{namespace}/{name}", want: "http://127.0.0.1:8080/#shop/production-20261202-1"},
		{template: "https://console.example.com/{namespace}", wantErr: "does not contain {name}"},
		{template: "console.example.com/{name}", wantErr: "is not an absolute http(s) URL"},
		{template: "file:///etc/{name}", wantErr: "is not an absolute http(s) URL"},
	} {
		l, err := ParsePromotionLink(tc.template)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParsePromotionLink(%q) = %v, want an error with %q", tc.template, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("ParsePromotionLink(%q): %v", tc.template, err)
		case l.For("shop", "production-20261202-1") != tc.want:
			t.Errorf("For = %q, want %q", l.For("shop", "production-20261202-1"), tc.want)
		}
	}
}
