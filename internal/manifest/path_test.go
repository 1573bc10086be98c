package manifest

import (
	"reflect"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		path    string
		want    []step
		wantErr string
	}{
		{path: "image", want: []step{{key: "image"}}},
		{path: "a.b.c", want: []step{{key: "a"}, {key: "b"}, {key: "c"}}},
		{path: "spec.containers[name=web].image", want: []step{{key: "spec"}, {key: "containers", selectors: []selector{{index: -1, field: "name", value: "web"}}}, {key: "image"}}},
		{path: "items[name=web.v2][0]", want: []step{{key: "items", selectors: []selector{{index: -1, field: "name", value: "web.v2"}, {index: 0}}}}},
		{path: "", wantErr: "empty"},
		{path: "a..b", wantErr: "empty element"},
		{path: "a.", wantErr: "empty element"},
		{path: ".a", wantErr: "empty element"},
		{path: "containers[name=]", wantErr: `bad selector "[name=]"`},
		{path: "containers[=web]", wantErr: "bad selector"},
		{path: "containers[-1]", wantErr: "bad selector"},
		{path: "containers[name=web", wantErr: "unclosed ["},
		{path: "containers[0]x", wantErr: "unexpected"},
		{path: "[0]", wantErr: "no list field before it"},
		{path: "a]b", wantErr: "unexpected"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := parsePath(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parsePath(%q) = %v, %v; want error containing %q", tt.path, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("parsePath(%q) = %+v, %v; want %+v", tt.path, got, err, tt.want)
			}
		})
	}
}
