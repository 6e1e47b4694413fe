package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	krbclient "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/krbfarm/krbfarm/lab/directory"
	"github.com/krbfarm/krbfarm/lab/kdc"
)

// TestPasswordsReachTheKDCVerbatim: passwords with spaces, quotes,
// backslashes, '!' and a leading '-' become exactly that key, checked by
// logging in to the real KDC with them.
func TestPasswordsReachTheKDCVerbatim(t *testing.T) {
	a := newTestAdmin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.realm.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.realm.Stop() })
	kc, err := krbconfig.Load(a.realm.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	for i, pw := range []string{`p "q" \ r`, `""`, `-randkey`, `!echo pwned`, `a  b c`, `ünï ⌘`, `x";cpw -pw y alice;"`} {
		name := fmt.Sprintf("pw%d", i)
		t.Run(name, func(t *testing.T) {
			if err := a.AddUser(ctx, name, pw, 0); err != nil {
				t.Fatal(err)
			}
			for _, try := range []struct {
				pw string
				ok bool
			}{{pw, true}, {pw + "x", false}} {
				cl := krbclient.NewWithPassword(name, a.realm.Name, try.pw, kc, krbclient.DisablePAFXFAST(true))
				err := cl.Login()
				cl.Destroy()
				if (err == nil) != try.ok {
					t.Errorf("login with the password %s: %v; want ok=%v", map[bool]string{true: "given", false: "plus x"}[try.ok], err, try.ok)
				}
			}
		})
	}
}

// TestKadminReportsEveryError: kadmin.local exits 0 after most failures;
// each must still fail the request, and control characters never reach it.
func TestKadminReportsEveryError(t *testing.T) {
	a := newTestAdmin(t)
	ctx := context.Background()
	before := kdcState(t, a)
	tests := []struct {
		name string
		run  func() error
		want string
	}{
		{"unknown request", func() error { _, err := a.realm.Kadmin(ctx, "frobnicate"); return err }, "Command not found"},
		{"no such principal", func() error { _, err := a.realm.Kadmin(ctx, "getprinc", "nobody"); return err }, "does not exist"},
		{"delete no such principal", func() error { return a.realm.DeletePrincipal(ctx, "nobody") }, "does not exist"},
		{"add an existing principal", func() error { return a.realm.AddPrincipal(ctx, "alice", "x") }, "already exists"},
		{"empty password", func() error { return a.realm.ChangePassword(ctx, "alice", "", nil) }, "password"},
		{"newline in an argument", func() error { _, err := a.realm.Kadmin(ctx, "getprinc", "alice\nquit"); return err }, "refused"},
		{"NUL in an argument", func() error { _, err := a.realm.Kadmin(ctx, "getprinc", "alice\x00"); return err }, "refused"},
		{"shell escape as the request", func() error { _, err := a.realm.Kadmin(ctx, "!true"); return err }, "Command not found"},
		{"option as a principal", func() error { return a.realm.DeletePrincipal(ctx, "-force") }, "may not start with '-'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v; want one containing %q", err, tt.want)
			}
		})
	}
	assertUnchanged(t, a, before)
}

// TestKadminErrorMasksPassword: a failed request's error never shows the
// password it carried.
func TestKadminErrorMasksPassword(t *testing.T) {
	a := newTestAdmin(t)
	err := a.realm.AddPrincipal(context.Background(), "alice", "s3cret-pw")
	var ke *kdc.KadminError
	if !errors.As(err, &ke) {
		t.Fatalf("err = %v; want a *kdc.KadminError", err)
	}
	if strings.Contains(err.Error(), "s3cret-pw") || !strings.Contains(ke.Request, "-pw ********") {
		t.Errorf("err = %q; want the password masked", err)
	}
}

// failingKadmin installs a kadmin.local that fails its nth run (counting
// from 1) and runs the real one otherwise.
func failingKadmin(t *testing.T, a *Admin, n int) {
	t.Helper()
	dir := t.TempDir()
	script := fmt.Sprintf(`#!/bin/sh
n=$(cat %[1]s/count 2>/dev/null || echo 0); n=$((n+1)); echo $n > %[1]s/count
if [ $n -eq %[2]d ]; then echo "kadmin.local: injected failure" >&2; exit 0; fi
exec %[3]s "$@"
`, dir, n, a.realm.Tools.Kadmin)
	path := filepath.Join(dir, "kadmin.local")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	real := a.realm.Tools.Kadmin
	a.realm.Tools.Kadmin = path
	t.Cleanup(func() { a.realm.Tools.Kadmin = real })
}

// TestUpdateRollsBackMidwayFailure: whichever kadmin request of a change
// fails, the KDC and directory.json are left exactly as they were; the same
// change then succeeds.
func TestUpdateRollsBackMidwayFailure(t *testing.T) {
	a := newTestAdmin(t)
	ctx := context.Background()
	// A user's reset changes its key in fn (request 1), then syncKDC lists
	// the principals (2). A service account's reset lists (1), then re-keys
	// HTTP/sso... (cpw 2, modprinc 3) and svc-web (cpw 4, modprinc 5).
	for _, tt := range []struct {
		account string
		n       int
	}{{DefaultUser, 1}, {DefaultUser, 2}, {DefaultServiceAccount, 1}, {DefaultServiceAccount, 3}, {DefaultServiceAccount, 5}} {
		t.Run(fmt.Sprintf("%s request %d fails", tt.account, tt.n), func(t *testing.T) {
			before := kdcState(t, a)
			failingKadmin(t, a, tt.n)
			_, err := a.ResetPassword(ctx, tt.account, "N3w-password")
			if err == nil || !strings.Contains(err.Error(), "injected failure") {
				t.Fatalf("ResetPassword = %v; want the injected failure", err)
			}
			assertUnchanged(t, a, before)
		})
	}
	for _, name := range []string{DefaultUser, DefaultServiceAccount} {
		acct, err := a.ResetPassword(ctx, name, "N3w-password")
		if err != nil || acct.KVNO != 2 {
			t.Fatalf("ResetPassword(%s) after the failures = %+v, %v; want kvno 2", name, acct, err)
		}
	}
}

// FuzzKadminNames adds a user with any name and password to one real realm
// and checks the KDC's principal list afterwards: exactly one principal
// more (the name) when accepted, unchanged when refused; and the name is
// accepted exactly when AD's rules accept it and no account holds it.
func FuzzKadminNames(f *testing.F) {
	for _, s := range [][2]string{
		{"bob", "bob-password"}, {"eve\ncpw -pw pwned2 alice\n", "x"}, {"two words", "x"}, {"-q", "x"},
		{"mallory", "p\ncpw -pw pwned3 alice\n"}, {"carol", `p "q" \ r ""`}, {"dave", "-randkey"},
		{"SERVER9$", "x"}, {"a/b", "x"}, {"x\n!touch /tmp/krbfarm-fuzz-pwned #", "x"}, {"ünï", "pw"},
		{"ALICE", "x"}, {"abcdefghijklmnopqrstu", "x"}, {"", "x"}, {"x\x00y", "p"}, {"frank", ""},
		{"o'brien", "#!%&()"}, {`x"y`, "z"},
	} {
		f.Add(s[0], s[1])
	}
	a := newTestAdmin(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, name, password string) {
		before, err := a.realm.Principals(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d, err := a.Directory()
		if err != nil {
			t.Fatal(err)
		}
		valid := kdc.CheckAccountName("name", name, directory.KindUser) == nil && kdc.CheckPassword("password", password) == nil && d.Account(name) == nil
		err = a.AddUser(ctx, name, password, 0)
		after, lerr := a.realm.Principals(ctx)
		if lerr != nil {
			t.Fatal(lerr)
		}
		want := slices.Clone(before)
		if err == nil {
			want = append(want, name)
		}
		slices.Sort(want)
		slices.Sort(after)
		if !slices.Equal(after, want) {
			t.Fatalf("AddUser(%q) = %v: principals %q; want %q", name, err, after, want)
		}
		if valid != (err == nil) {
			t.Fatalf("AddUser(%q) = %v; the name rules say valid=%v", name, err, valid)
		}
	})
}
