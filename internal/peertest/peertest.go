// Package peertest decides, for tests that need a real outside peer
// (haproxy, chromium, Debian's python3 Kerberos packages), whether its
// absence skips the test or fails it: CI sets KRBFARM_REQUIRE_PEERS=1 so
// a missing install step shows as a failure, not a silent skip.
//
//	if _, err := exec.LookPath("haproxy"); err != nil {
//		peertest.Missing(t, "haproxy not installed: apt-get install -y haproxy")
//	}
package peertest

import (
	"os"
	"testing"
)

// RequireEnv is the variable that turns a missing peer into a failure.
const RequireEnv = "KRBFARM_REQUIRE_PEERS"

// Missing ends t: a failure when RequireEnv is "1", else a skip. msg says
// what is missing and how to install it.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatal(msg + " (" + RequireEnv + "=1)")
	}
	t.Skip("skipping: " + msg)
}
