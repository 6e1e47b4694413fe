package tlsterm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// nobody is the uid a planted CA belongs to in these tests.
const nobody = 65534

// TestNewCARefusesPlantedCA is issue 8: a CA whose key another user owns or
// can read was reused, so that user could mint certificates for the
// browser that trusts the lab CA.
func TestNewCARefusesPlantedCA(t *testing.T) {
	tests := []struct {
		name   string
		plant  func(t *testing.T, f labFiles)
		file   func(f labFiles) string
		reason string
	}{
		{"key owned by another user", func(t *testing.T, f labFiles) { chown(t, f.caKey, nobody) }, keyOf, "owned by uid 65534"},
		{"key readable by others", func(t *testing.T, f labFiles) { chmod(t, f.caKey, 0o644) }, keyOf, "readable or writable by group or others"},
		{"key readable by group", func(t *testing.T, f labFiles) { chmod(t, f.caKey, 0o640) }, keyOf, "readable or writable by group or others"},
		{"certificate owned by another user", func(t *testing.T, f labFiles) { chown(t, f.caCert, nobody) }, certOf, "owned by uid 65534"},
		{"certificate writable by others", func(t *testing.T, f labFiles) { chmod(t, f.caCert, 0o666) }, certOf, "writable by group or others"},
		{"key is a link", func(t *testing.T, f labFiles) { link(t, f.caKey) }, keyOf, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, f := newLab(t)
			tt.plant(t, f)
			_, err := NewCA(f.caCert, f.caKey)
			var unsafe *UnsafeCAFileError
			if !errors.As(err, &unsafe) {
				t.Fatalf("NewCA on a planted CA: got %v; want *UnsafeCAFileError", err)
			}
			if unsafe.File != tt.file(f) || !strings.Contains(err.Error(), tt.reason) || !strings.Contains(err.Error(), "chmod 600") {
				t.Errorf("got %q (file %s); want it to name %s, say %q and the fix", err, unsafe.File, tt.file(f), tt.reason)
			}
		})
	}
}

func keyOf(f labFiles) string  { return f.caKey }
func certOf(f labFiles) string { return f.caCert }

func chown(t *testing.T, file string, uid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another user")
	}
	if err := os.Lchown(file, uid, uid); err != nil {
		t.Fatal(err)
	}
}

func chmod(t *testing.T, file string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(file, mode); err != nil {
		t.Fatal(err)
	}
}

// link replaces file by a link to a copy of it elsewhere.
func link(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "elsewhere.pem")
	if err := os.WriteFile(target, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, file); err != nil {
		t.Fatal(err)
	}
}
