package doctor

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestCouldNotRunNamesFields: the doctor's errors name ExternalOptions'
// fields, never the CLI's flags; Rename names them as the caller says.
func TestCouldNotRunNamesFields(t *testing.T) {
	tests := []struct {
		name string
		o    ExternalOptions
		want string
	}{
		{"bad URL", ExternalOptions{URL: "ftp://x"}, `URL "ftp://x" is not an http(s) URL`},
		{"missing", ExternalOptions{URL: "https://sso.example/"}, "missing Realm, KDC, User; fix: give URL, Realm, KDC (HOST:PORT) and User"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DiagnoseExternal(context.Background(), tt.o)
			var cnr *CouldNotRunError
			if !errors.As(err, &cnr) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "--") {
				t.Fatalf("err = %v; want a CouldNotRunError saying %q, no flag", err, tt.want)
			}
			flag := cnr.Rename(func(f string) string { return "--" + strings.ToLower(f) })
			if !strings.Contains(flag.Error(), "--url") || strings.Contains(flag.Error(), "{") {
				t.Errorf("renamed: %v; want --url", flag)
			}
		})
	}
}
