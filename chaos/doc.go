// Package chaos holds krbfarm's fault tests, and nothing else: it has no
// code of its own outside its tests.
//
// The tests drive krbfarm as a black box, as an operator would: they build
// the krbfarm binary, start a farm with `krbfarm up` (for its KDC, keytab,
// certificate and user), read its farm.json, get a ticket with the real
// kinit, and send authenticated load (SPNEGO tokens made with gokrb5 from
// that ccache, a fresh token and connection per request) while they break
// something:
//
//   - kill -9 of a farm host (its PID from farm.json), through the farm's
//     own load balancer;
//   - SIGSTOP then SIGCONT of a host behind a standalone `krbfarm lb`,
//     whose /status shows when its health check took the host out;
//   - three SIGHUP reloads of the balancer and of the hosts;
//   - SIGTERM of the balancer while requests are in flight (drain);
//   - the balancer run out of file descriptors (prlimit) by a flood of
//     idle connections;
//   - slowloris (headers byte by byte, a POST without its body, a TLS
//     ClientHello byte by byte) against a host and against the balancer.
//
// Each fault prints a row: requests sent, failed, failed in the fault's
// window, failed outside it (must be 0), and lost (no outcome; must be 0).
// The assertions are about correctness, never timing.
//
// Typical use:
//
//	make chaos                          # verbose, more load, prints the table
//	go test -race -count=1 ./chaos      # the short form `make test` runs
package chaos
