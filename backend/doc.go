// Package backend is an IIS-like web site with Windows Authentication
// (HTTP Negotiate): it validates SPNEGO/Kerberos AP-REQs against a keytab
// held in memory, with its own per-site replay cache and a clock that can be
// skewed, and says exactly why a ticket was refused.
//
// Every refusal is answered with 401 and "WWW-Authenticate: Negotiate" and
// logged once, at Warn, with the stable keys backend, remote, reason (the
// Kerberos error name, e.g. KRB_AP_ERR_MODIFIED), code and detail. Tokens,
// tickets and keys are never logged.
//
// Typical use:
//
//	cfg := backend.Config{
//		Name:   "server1",
//		Keytab: "/etc/krbfarm/http.keytab",
//		SPN:    "HTTP/sso.krbfarm.localhost",
//	}
//	site, err := backend.New(cfg, logger)
//	if err != nil {
//		return err
//	}
//	defer site.Close()
//	return site.ListenAndServe(ctx)
//
// The Verifier used by the Site can also be called directly:
//
//	id, err := site.Verifier().Verify(r.Header.Get("Authorization"), r.RemoteAddr)
//	var ae *backend.AuthError
//	if errors.As(err, &ae) {
//		fmt.Println(ae.Name, ae.Code, ae.Detail)
//	}
package backend
