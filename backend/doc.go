// Package backend is an IIS-like web site with Windows Authentication
// (HTTP Negotiate): it validates SPNEGO/Kerberos AP-REQs against a keytab
// held in memory, with its own per-site replay cache and a clock that can be
// skewed, and says exactly why a ticket was refused.
//
// Tokens are decoded as strict DER (derdecode.go, derspnego.go, into
// gokrb5's types): bytes after a message or a SEQUENCE's last field,
// non-minimal lengths, and other string or time forms than RFC 4120's
// (GeneralString, YYYYMMDDHHMMSSZ) are MALFORMED_TOKEN, where gokrb5's
// own decoder let them through.
//
// A logon is answered with 200 and, as IIS and MIT's
// gss_accept_sec_context do, "WWW-Authenticate: Negotiate <token>": for
// SPNEGO a NegTokenResp accept-completed, carrying the AP-REP when the
// client asked for mutual authentication; for a raw krb5 token the bare
// AP-REP, when asked (Verifier.Accept returns that token).
//
// Every refusal is answered with 401 and one WWW-Authenticate header per
// provider ("Negotiate", "NTLM"), logged once, at Warn, with the stable keys
// backend, remote, reason (the Kerberos error name, e.g.
// KRB_AP_ERR_MODIFIED), code and detail, and written as a Windows-like
// security event 4625 (NTSTATUS status and sub-status, e.g. 0xC0000133 for
// clock skew) when Config.EventLog is set. Successful logons are event 4624
// (package Kerberos or NTLM). Tokens, tickets, keys and hashes are never
// logged.
//
// Every phase of a connection is bounded: headers (10s, maxRequestBytes),
// body (Config.BodyTimeout), answer, idle time, and the connections served
// at once (Config.MaxConnections: past it, 503 and close). The replay cache
// fails closed: full of unexpired authenticators, it refuses new ones
// (REPLAY_CACHE_FULL). Connections over the limit and refused PROXY
// headers are logged rate-limited; Site.Stats counts every event exactly.
//
// The site also plays the IIS settings that matter in a farm, with IIS's
// names: batchLogonRight (false: 503 on every request, WAS event 5021),
// authPersistNonNTLM and authPersistSingleRequest (a connection stays
// authenticated, held per TCP connection; the Persistent-Auth header says
// so), maxFieldLength and maxRequestBytes (http.sys limits: 400 "Request
// Header Too Long"), and providers. With NTLM a provider, NTLM messages get
// the real handshake on their connection (CHALLENGE, then an NTLMv2 check
// against Config.NTLMUsers, written with WriteNTLMUsers).
//
// Extended Protection (Config.ExtendedProtection, IIS's extendedProtection)
// checks the channel bindings a Kerberos client puts in its authenticator
// checksum (RFC 4121 §4.1.1.2: the MD5 of a gss_channel_bindings_struct
// whose application data is RFC 5929's "tls-server-end-point:" and the
// hash of the server certificate the client saw) against the certificate
// this host served on the connection. tokenChecking Allow refuses bindings
// that do not match, Require also refuses none; over plain HTTP there is no
// channel to match. With flags Proxy the host does http.sys's service
// binding instead: the ticket's SPN must be in spns. Refusals are
// EPA_CHANNEL_BINDING_MISSING, EPA_CHANNEL_BINDING_MISMATCH and
// EPA_SERVICE_BINDING, 4625 status 0xC000035B (STATUS_BAD_BINDINGS). NTLM
// logons are not checked. Verifier.AcceptOn takes the connection's Channel;
// Verify and Accept assume plain HTTP.
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
