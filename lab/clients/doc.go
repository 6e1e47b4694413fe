// Package clients holds no code: its tests drive real outside clients
// (Debian's headless Chromium, through MIT GSSAPI) against a real farm
// started by labtest, through the load balancer in each TLS mode, the way a
// user's browser reaches a Windows farm.
//
// The clients are real programs, not libraries: each test skips when its
// program is missing, and fails instead with KRBFARM_REQUIRE_PEERS=1 (as CI
// sets). Typical run:
//
//	apt-get install -y chromium libnss3-tools krb5-user
//	go test -count=1 ./lab/clients/
package clients
