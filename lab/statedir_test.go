package lab_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/kdc"
	"github.com/krbfarm/krbfarm/lab/labtest"
	tlsterm "github.com/krbfarm/krbfarm/tls"
)

// nobody is the other user that owns planted state in these tests.
const nobody = 65534

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user")
	}
}

// freshDir is a new state dir, 0700 whatever the umask.
func freshDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

// plantCA leaves a lab CA in dir/tls, as a farm run there would.
func plantCA(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	tlsDir := filepath.Join(dir, "tls")
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(tlsDir, "ca.pem"), filepath.Join(tlsDir, "ca-key.pem")
	if _, err := tlsterm.NewCA(cert, key); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func chownAll(t *testing.T, uid int, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.Lchown(p, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
}

func chmod(t *testing.T, path string, mode fs.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// TestStartRefusesStateOthersCanChange is issue 8 item 2: a 0777 dir owned
// by nobody holding its own CA was used, and its certificate served.
func TestStartRefusesStateOthersCanChange(t *testing.T) {
	tests := []struct {
		name   string
		root   bool
		plant  func(t *testing.T, dir string) (bad string)
		reason string
	}{
		{"foreign 0777 dir with its own CA", true, func(t *testing.T, dir string) string {
			cert, key := plantCA(t, dir)
			chownAll(t, nobody, dir, filepath.Dir(cert), cert, key)
			chmod(t, dir, 0o777)
			return dir
		}, "owned by another user"},
		{"foreign 0700 dir", true, func(t *testing.T, dir string) string {
			chownAll(t, nobody, dir)
			return dir
		}, "owned by another user"},
		{"own dir writable by others", false, func(t *testing.T, dir string) string {
			chmod(t, dir, 0o777)
			return dir
		}, "writable by group or others"},
		{"own dir writable by group", false, func(t *testing.T, dir string) string {
			chmod(t, dir, 0o770)
			return dir
		}, "writable by group or others"},
		{"CA key owned by another user", true, func(t *testing.T, dir string) string {
			_, key := plantCA(t, dir)
			chownAll(t, nobody, key)
			return key
		}, "owned by another user"},
		{"env writable by others", false, func(t *testing.T, dir string) string {
			env := filepath.Join(dir, "env")
			if err := os.WriteFile(env, []byte("export X=1\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			chmod(t, env, 0o666)
			return env
		}, "writable by group or others"},
		{"link where a folder is expected", false, func(t *testing.T, dir string) string {
			link := filepath.Join(dir, "tls")
			if err := os.Symlink(t.TempDir(), link); err != nil {
				t.Fatal(err)
			}
			return link
		}, "a symbolic link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root {
				needRoot(t)
			}
			dir := freshDir(t)
			bad := tt.plant(t, dir)
			err := startErr(t, dir)
			var unsafe *lab.UnsafePathError
			if !errors.As(err, &unsafe) {
				t.Fatalf("Start on %s: got %v; want *lab.UnsafePathError", dir, err)
			}
			for _, want := range []string{bad, tt.reason, "owner ", "mode ", "mktemp -d"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if _, err := os.Lstat(filepath.Join(dir, "lock")); err == nil {
				t.Errorf("Start wrote into %s before refusing it", dir)
			}
			if _, err := lab.ReadInfo(dir); !errors.As(err, &unsafe) {
				t.Errorf("ReadInfo on %s: got %v; want *lab.UnsafePathError", dir, err)
			}
		})
	}
}

// TestStartRefusesCAKeyOthersCanRead: the tree check lets a 0644 file
// through (no one else can change it), the CA loader does not.
func TestStartRefusesCAKeyOthersCanRead(t *testing.T) {
	dir := freshDir(t)
	_, key := plantCA(t, dir)
	chmod(t, key, 0o644)
	err := startErr(t, dir)
	var unsafe *tlsterm.UnsafeCAFileError
	if !errors.As(err, &unsafe) || unsafe.File != key {
		t.Fatalf("Start with a 0644 CA key: got %v; want *tlsterm.UnsafeCAFileError naming %s", err, key)
	}
}

// startErr runs Start on dir and returns its error (a farm that starts is
// closed at once); it skips when the krb5 programs are missing.
func startErr(t *testing.T, dir string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	farm, err := lab.Start(ctx, lab.Config{StateDir: dir})
	var missing *kdc.MissingToolsError
	if errors.As(err, &missing) {
		t.Skip(err)
	}
	if err == nil {
		farm.Close()
	}
	return err
}

// TestFreshStateDirModes: everything a farm writes is the user's, folders
// 0700, secrets 0600, and the farm passes its own check while it runs.
func TestFreshStateDirModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "state") // Start makes it
	labtest.Start(t, lab.Config{StateDir: dir})
	if _, err := lab.ReadInfo(dir); err != nil {
		t.Fatalf("ReadInfo on the farm's own state dir: %v", err)
	}
	secrets := []string{"env", "farm.json", "directory.json", "lock", "tls/ca.pem", "tls/ca-key.pem",
		"tls/sso.krbfarm.localhost.pem", "tls/sso.krbfarm.localhost-key.pem", "kdc/stash", "kdc/principal",
		"hosts/server1/http.keytab", "hosts/server1/backend.yaml", "hosts/server1/ntlm_users", "logs/server1.log"}
	for _, s := range secrets {
		fi, err := os.Lstat(filepath.Join(dir, s))
		if err != nil || fi.Mode() != 0o600 {
			t.Errorf("%s: mode %v, err %v; want -rw-------", s, fi.Mode(), err)
		}
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		fi, ierr := d.Info()
		switch {
		case err != nil || ierr != nil:
			t.Errorf("walk %s: %v %v", p, err, ierr)
		case d.IsDir() && fi.Mode().Perm() != 0o700:
			t.Errorf("folder %s: mode %v; want drwx------", p, fi.Mode())
		case !d.IsDir() && (fi.Mode().Perm()&0o022 != 0 || !fi.Mode().IsRegular()):
			t.Errorf("file %s: mode %v; want a regular file no one else can write", p, fi.Mode())
		}
		return nil
	})
}

func TestSecureStateDirResolvesLinkToOwnDir(t *testing.T) {
	dir := freshDir(t)
	link := filepath.Join(t.TempDir(), "farm")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	got, err := lab.SecureStateDir(link)
	if err != nil || got != dir {
		t.Fatalf("SecureStateDir(%s): got %q, %v; want %q (the link resolved once)", link, got, err, dir)
	}
	missing := filepath.Join(dir, "nope")
	if _, err := lab.ReadInfo(missing); err == nil || !strings.Contains(err.Error(), "no running farm in "+missing) {
		t.Errorf("ReadInfo(%s): got %v; want \"no running farm in %s\"", missing, err, missing)
	}
}

// The folders above a state dir: one that another user owns, or that
// others may write and is not sticky, lets them rename the state dir away
// and put their own in its place; a sticky one (as /tmp is) does not.
func TestSecureStateDirChecksParents(t *testing.T) {
	tests := []struct {
		name   string
		root   bool
		mode   fs.FileMode
		owner  int
		reason string // "" = accepted
	}{
		{"parent writable by others", false, 0o777, -1, "a parent folder writable by group or others, and not sticky"},
		{"parent writable by group", false, 0o770, -1, "a parent folder writable by group or others, and not sticky"},
		{"sticky parent writable by all, as /tmp", false, 0o777 | fs.ModeSticky, -1, ""},
		{"parent owned by another user", true, 0o755, nobody, "a parent folder owned by another user"},
		{"parent owned by root", true, 0o755, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root {
				needRoot(t)
			}
			parent := filepath.Join(t.TempDir(), "parent")
			if err := os.Mkdir(parent, 0o700); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(parent, "state")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			chmod(t, parent, tt.mode)
			if tt.owner >= 0 {
				chownAll(t, tt.owner, parent)
			}
			_, err := lab.SecureStateDir(dir)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("SecureStateDir(%s) under a %v parent: %v; want it accepted", dir, tt.mode, err)
				}
				return
			}
			var unsafe *lab.UnsafePathError
			if !errors.As(err, &unsafe) || unsafe.Path != parent || !unsafe.Parent {
				t.Fatalf("SecureStateDir(%s): got %v; want *lab.UnsafePathError naming %s", dir, err, parent)
			}
			for _, want := range []string{parent, tt.reason, "mktemp -d"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if err := startErr(t, dir); !errors.As(err, &unsafe) {
				t.Errorf("Start under that parent: got %v; want *lab.UnsafePathError", err)
			}
		})
	}
}
