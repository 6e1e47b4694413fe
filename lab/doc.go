// Package lab provisions and runs a whole Kerberos web farm on one Linux
// machine: a real MIT KDC realm in a state directory, one backend process
// per host sharing the service account's keytab, and the L4 load balancer
// with TLS termination in front of them.
//
// Typical use, in a program or a test (see package labtest for tests):
//
//	farm, err := lab.Start(ctx, lab.Config{})
//	if err != nil { ... }
//	defer farm.Close()
//	c, err := farm.NewClient("alice") // a Kerberos login against the KDC
//	res, err := c.Get(ctx, farm.URL)  // res.Backend, res.User, res.Status
//
// The zero Config is a working farm: realm KRBFARM.LOCALHOST, the SPN
// HTTP/sso.krbfarm.localhost held by the shared account svc-web, user alice
// (password alice-password), hosts server1 and server2, free loopback ports.
//
// Hosts are separate processes, as in a real farm (each has its own replay
// cache): the lab runs Config.Exe (default: this executable) as
// `backend --config FILE --listen-fd 3`. Programs other than krbfarm that
// start farms must handle that; labtest does it for test binaries.
//
// This package is the farm's wiring; each concern has its own package:
// kdc (the MIT realm and kadmin), directory (the AD-like directory, IIS
// key rule and keytabs), krbhttp (the Kerberos HTTP client), doctor (the
// diagnosis), scenario (the failure catalogue reproduced) and proc (the
// child processes). Admin implements the narrow interfaces doctor.Lab and
// scenario.Lab.
package lab
