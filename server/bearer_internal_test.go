package server

import "testing"

// TestBearerToken pins the one Authorization parser both listeners use.
func TestBearerToken(t *testing.T) {
	for _, tt := range []struct {
		header, want string
		ok           bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer abc", "abc", true},
		{"bEaReR abc", "abc", true},
		{"Bearer    abc", "abc", true}, // RFC 6750: 1*SP
		{"", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer    ", "", false},
		{"Bearerabc", "", false},
		{"Bearer\tabc", "", false},
		{" Bearer abc", "", false},
		{"Bearer abc def", "", false},
		{"Bearer abc\t", "", false},
		{"Basic dXNlcjpwYXNz", "", false},
		{"Bearer: abc", "", false},
		{"B\u0435arer abc", "", false}, // Cyrillic е
	} {
		got, ok := bearerToken(tt.header)
		if got != tt.want || ok != tt.ok {
			t.Errorf("bearerToken(%q) = %q, %v; want %q, %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
}
