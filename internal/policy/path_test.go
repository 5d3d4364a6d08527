package policy

import (
	"strings"
	"testing"
)

func TestCanonicalPath(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  string
	}{
		{in: "/", want: "/"},
		{in: "/api/orders/7", want: "/api/orders/7"},
		{in: "/api/orders/", want: "/api/orders/"},
		{in: "//api///orders", want: "/api/orders"},
		{in: "/api/./orders", want: "/api/orders"},
		{in: "/api/x/../orders", want: "/api/orders"},
		{in: "/api/orders/.", want: "/api/orders/"},
		{in: "/api/orders/..", want: "/api/"},
		{in: "/a/..", want: "/"},
		{in: "/api/orders?x=1&y=%2F#", wantErr: "fragment"},
		{in: "/api/orders?next=%2F..%2F", want: "/api/orders"},
		{in: "/%61%70%69/%6f", want: "/api/o"},
		{in: "/%2E%2E/x", wantErr: "above the root"},
		{in: "/a/%2e%2e/b", want: "/b"},
		{in: "/a/%2e/b", want: "/a/b"},
		{in: "/a%7e%2D%5f", want: "/a~-_"},
		{in: "/a%3f%25%c3%a9", want: "/a%3F%25%C3%A9"},
		{in: "/a...b/.../..x", want: "/a...b/.../..x"},
		{in: "/a;v=1/b", want: "/a;v=1/b"},
		{in: "/a/..;/b", wantErr: "dot segment with ; parameters"},
		{in: "/a/.;x/b", wantErr: "dot segment with ; parameters"},
		{in: "/a/..%3bx/b", wantErr: "dot segment with ; parameters"},
		{in: "/a/%2e%2e;/b", wantErr: "dot segment with ; parameters"},
		{in: "/a%2Fb", wantErr: "encoded slash"},
		{in: "/a%2fb", wantErr: "encoded slash"},
		{in: "/a%5Cb", wantErr: "encoded slash or backslash"},
		{in: `/a\b`, wantErr: "backslash"},
		{in: "/a#frag", wantErr: "fragment"},
		{in: "/a\x00", wantErr: "control character"},
		{in: "/a\r\n", wantErr: "control character"},
		{in: "/a%00", wantErr: "encoded control"},
		{in: "/a%0a", wantErr: "encoded control"},
		{in: "/a%7F", wantErr: "encoded control"},
		{in: "/a b", wantErr: "space or non-ASCII"},
		{in: "/é", wantErr: "space or non-ASCII"},
		{in: "/a%", wantErr: "malformed percent"},
		{in: "/a%4", wantErr: "malformed percent"},
		{in: "/a%G0", wantErr: "malformed percent"},
		{in: "/..", wantErr: "above the root"},
		{in: "/a/../../b", wantErr: "above the root"},
		{in: "", wantErr: "does not start with /"},
		{in: "?x", wantErr: "does not start with /"},
		{in: "api", wantErr: "does not start with /"},
		{in: "http://example.org/api", wantErr: "does not start with /"},
		{in: "*", wantErr: "does not start with /"},
	}
	for _, tt := range tests {
		got, err := canonicalPath(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("canonicalPath(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("canonicalPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestUnderPrefix(t *testing.T) {
	tests := []struct {
		path, prefix string
		want         bool
	}{
		{"/api/orders", "/api/orders", true},
		{"/api/orders/7", "/api/orders", true},
		{"/api/orders-old", "/api/orders", false},
		{"/api/orders", "/api/orders/", false},
		{"/api/orders/", "/api/orders/", true},
		{"/api/orders/7", "/api/orders/", true},
		{"/anything", "/", true},
		{"/ap", "/api", false},
	}
	for _, tt := range tests {
		if got := underPrefix(tt.path, tt.prefix); got != tt.want {
			t.Errorf("underPrefix(%q, %q) = %v, want %v", tt.path, tt.prefix, got, tt.want)
		}
	}
}
