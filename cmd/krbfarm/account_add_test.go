package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/krbfarm/krbfarm/lab/directory"
)

// TestAddUserErrorNamesResetPassword: a duplicate `account add` showed the
// library's text with no way out.
func TestAddUserErrorNamesResetPassword(t *testing.T) {
	err := addUserError(fmt.Errorf("add user bob: %w", &directory.AccountExistsError{Name: "bob", Existing: `KRBFARM\bob`, Kind: directory.KindUser}), "/tmp/f")
	if exitCode(err) != 2 {
		t.Errorf("exit code %d; want 2", exitCode(err))
	}
	for _, want := range []string{`KRBFARM\bob already exists`, "krbfarm account reset-password --state /tmp/f bob"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// TestIISRefusesHeaderLimitsOverHTTPSys: iis --maxFieldLength 70000 was
// accepted, though http.sys takes at most 65534.
func TestIISRefusesHeaderLimitsOverHTTPSys(t *testing.T) {
	cmd := newIISCmd()
	cmd.SetArgs([]string{"server1", "--state", t.TempDir(), "--maxFieldLength", "70000", "--maxRequestBytes", "1"})
	cmd.SetOut(new(strings.Builder))
	cmd.SetErr(new(strings.Builder))
	err := cmd.Execute()
	if exitCode(err) != 2 {
		t.Fatalf("iis --maxFieldLength 70000: %v (exit %d); want exit 2", err, exitCode(err))
	}
	for _, want := range []string{"--maxFieldLength 70000: http.sys takes 64-65534", "--maxRequestBytes 1: "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
