// Package lb is krbfarm's L4 (TCP) load balancer: the box in front of the
// farm that a Windows shop would buy. It accepts client connections on one
// front door and forwards each, whole, to one healthy backend chosen
// round-robin, by least connections or by client-IP hash (weights and
// per-backend limits apply). One client connection
// maps to one backend connection for its whole life, so connection-bound
// authentication (NTLM, Kerberos with authPersistNonNTLM) keeps working.
//
// Three modes for use:
//   - "terminate" (the default): TLS ends here; backends see plaintext.
//   - "passthrough": bytes are forwarded untouched (TLS ends at the
//     backend); on Linux an epoll event loop relays the raw TCP sockets.
//   - "reencrypt": TLS ends here and a new, verified TLS connection goes to
//     the backend.
//
// A fourth, "l7-pooling", is a demonstration of the failure L4 avoids, never
// for production: an HTTP reverse proxy whose backend connections are
// pooled across clients, so one user's connection-bound logon answers
// another user's requests (l7pool.go; the lab's l7-connection-pooling
// scenario).
//
// Backends may get a PROXY protocol header; ProxyListener is their side.
// Shutdown drains, Reload applies a new configuration without dropping a
// connection, AdminHandler serves /metrics and /status. docs/lb.md in the
// repository documents the configuration file and the metrics.
//
// Typical use:
//
//	srv, err := lb.New(lb.Config{
//		Listen:   "127.0.0.1:8443",
//		Backends: []lb.Backend{{Name: "web1", Addr: "127.0.0.1:8081"}, {Name: "web2", Addr: "127.0.0.1:8082"}},
//		CertFile: "sso.pem",
//		KeyFile:  "sso-key.pem",
//	}, nil, log)
//	if err != nil { ... }
//	defer srv.Close()
//	err = srv.ListenAndServe(ctx) // returns nil once ctx is done or Close is called
//
// Each connection ends with exactly one "connection closed" log line (Info;
// Warn when no backend took it) carrying remote, upstream,
// bytes_in, bytes_out, duration and close (why it ended); payloads are never
// logged. Status reports each backend's health and counters.
package lb
