// Package tlsterm holds the lab's certificates and the server side of TLS
// termination: a small certificate authority that mints leaf certificates
// for the farm's names, loading of key pairs with errors that name the file,
// and the *tls.Config the load balancer terminates with.
//
// It lives in the folder tls/ and is imported under its own name so that
// crypto/tls keeps its usual one:
//
//	import tlsterm "github.com/krbfarm/krbfarm/tls"
//
// Typical use:
//
//	ca, err := tlsterm.NewCA("ca.pem", "ca-key.pem") // loads, or creates once
//	if err != nil { ... }
//	err = ca.Issue([]string{"sso.krbfarm.localhost", "127.0.0.1"}, "sso.pem", "sso-key.pem")
//	cert, err := tlsterm.LoadKeyPair("sso.pem", "sso-key.pem")
//	conf := tlsterm.ServerConfig(cert)
//	ln := tls.NewListener(tcpListener, conf)
//
// Clients trust the lab with `curl --cacert ca.pem` or, in Go, with
// ca.CertPool() as tls.Config.RootCAs.
package tlsterm
