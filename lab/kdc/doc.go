// Package kdc runs an MIT Kerberos realm for the lab: it provisions the
// database and configuration in a directory (Provision), runs krb5kdc on a
// loopback port (Realm.Start/Stop), and changes principals with one
// checked, quoted kadmin.local request each (Realm.Kadmin), with a database
// Snapshot to roll a failed change back. The krb5 programs are found by
// FindTools (MissingToolsError names the Debian packages), and every name
// or password that may reach kadmin is checked first (CheckPrincipal,
// CheckAccountName, ...; a NameError says which field and which rule).
//
// Typical use:
//
//	t, err := kdc.FindTools("", false)
//	r := &kdc.Realm{Name: "KRBFARM.LOCALHOST", Dir: dir, Domain: "krbfarm.localhost", Port: port, Tools: t}
//	if err := kdc.Provision(ctx, r, masterPassword); err != nil { ... }
//	if err := r.Start(ctx); err != nil { ... }
//	defer r.Stop()
//	err = r.AddPrincipal(ctx, "alice", "alice-password")
package kdc
