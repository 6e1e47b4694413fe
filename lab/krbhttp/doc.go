// Package krbhttp is the lab's Kerberos HTTP client: a user logged in to
// the realm (an AS exchange with the KDC) who sends a fresh SPNEGO token
// on a new connection for every request, as a browser does on an
// L4-balanced farm; optionally falling back to NTLM when the KDC has no
// such SPN, as a browser does; with tickets carrying many group SIDs (a
// big token) when the user is in many groups; and an MIT ccache writer
// (Kinit) so MIT programs use the same tickets. Kerberos errors are
// *KerberosError, read once from gokrb5's text; Sample summarises N
// requests per backend.
//
// Typical use:
//
//	c, err := krbhttp.New(krbhttp.Config{Krb5Conf: conf, User: "alice", Password: pw,
//		SPN: "HTTP/sso.krbfarm.localhost", CAFile: ca, DialAddr: lbAddr})
//	if err != nil { ... }
//	defer c.Close()
//	res, err := c.Get(ctx, "https://sso.krbfarm.localhost:8443/")
//	var ke *krbhttp.KerberosError
//	if errors.As(err, &ke) { ... ke.Name ... }
package krbhttp
