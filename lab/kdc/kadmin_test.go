package kdc

import "testing"

func TestKadminQuote(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"alice", `"alice"`},
		{"two words", `"two words"`},
		{`p "q" \ r`, `"p ""q"" \ r"`},
		{`""`, `""""""`},
		{"", `""`},
	} {
		if got := kadminQuote(tt.in); got != tt.want {
			t.Errorf("kadminQuote(%q) = %s; want %s", tt.in, got, tt.want)
		}
	}
}
