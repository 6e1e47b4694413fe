package backend

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadKeytabErrors(t *testing.T) {
	dir := t.TempDir()
	notKeytab := filepath.Join(dir, "notes.txt")
	os.WriteFile(notKeytab, []byte("this is not a keytab"), 0o600)
	empty := filepath.Join(dir, "empty.keytab")
	os.WriteFile(empty, []byte{5, 2}, 0o600)
	unreadable := writeKeytab(t, newKeytab(t, testSPN, testPass, 2, aes256))
	os.Chmod(unreadable, 0)
	tests := []struct {
		name, path string
		want       []string
		is         error
		skip       bool
	}{
		{name: "missing", path: filepath.Join(dir, "nope.keytab"), want: []string{"file not found"}, is: fs.ErrNotExist},
		{name: "directory", path: dir, want: []string{"is a directory"}},
		{name: "not a keytab", path: notKeytab, want: []string{"not a valid keytab", "klist -kte"}},
		{name: "no entries", path: empty, want: []string{"no keys"}},
		{name: "permission denied", path: unreadable, want: []string{"permission denied", "chmod 0600"},
			is: fs.ErrPermission, skip: os.Geteuid() == 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip {
				t.Skip("running as root: chmod does not stop reads")
			}
			_, err := New(Config{Name: "server1", Keytab: tt.path}, nil)
			if err == nil {
				t.Fatal("New succeeded; want an error")
			}
			for _, w := range append(tt.want, tt.path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q; want it to contain %q", err, w)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
		})
	}
}

func TestReloadKeytab(t *testing.T) {
	f := newFixture(t)
	s, _ := newSite(t, "server1", f.rc4KT, nil)
	tok := func() string { return mint(t, ticketSpec{kdc: f.kdc}) }
	if w := get(s, tok()); w.Code != 401 {
		t.Fatalf("before reload: status = %d; want 401", w.Code)
	}
	b, _ := os.ReadFile(f.siteKT)
	if err := os.WriteFile(f.rc4KT, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.ReloadKeytab(); err != nil {
		t.Fatalf("ReloadKeytab: %v", err)
	}
	if w := get(s, tok()); w.Code != 200 {
		t.Fatalf("after reload: status = %d; want 200", w.Code)
	}
	os.WriteFile(f.rc4KT, []byte("junk"), 0o600)
	if err := s.ReloadKeytab(); err == nil {
		t.Fatal("ReloadKeytab of junk succeeded; want an error")
	}
	if w := get(s, tok()); w.Code != 200 {
		t.Fatalf("after failed reload: status = %d; want 200 (old keys kept)", w.Code)
	}
}
