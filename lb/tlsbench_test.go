package lb

import (
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// BenchmarkTerminateHandshake measures what a client opening a TLS
// connection per request costs the balancer in terminate mode: a TLS 1.3
// handshake (X25519, the lab CA's ECDSA P-256 certificate), one byte to
// a plain-TCP backend and back, then close, from 8 clients at once.
// "full" clients keep no session, so every handshake signs; "resumed"
// clients offer their last ticket, as wrk's OpenSSL client does (PSK with
// X25519, no signature). Client and balancer share the process, so
// ns/op and allocs/op count both sides; compare runs, not absolutes.
func BenchmarkTerminateHandshake(b *testing.B) {
	for _, resume := range []bool{false, true} {
		name := "full"
		if resume {
			name = "resumed"
		}
		b.Run(name, func(b *testing.B) {
			certs := newLabCerts(b)
			be := listen(b)
			serve(be, func(c net.Conn) {
				buf := make([]byte, 1)
				if _, err := c.Read(buf); err == nil {
					c.Write(buf)
				}
			})
			cfg := Config{Backends: backends(be), CertFile: certs.certFile, KeyFile: certs.keyFile, Health: Health{Interval: time.Hour}}
			_, front := startLB(b, cfg, nil, nil)
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				conf := certs.client.Clone()
				if resume {
					conf.ClientSessionCache = tls.NewLRUClientSessionCache(1)
				}
				buf := make([]byte, 1)
				for pb.Next() {
					if err := oneTLSConn(front, conf, buf); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// oneTLSConn opens a TLS connection to front, sends and reads back one
// byte, and closes it.
func oneTLSConn(front string, conf *tls.Config, buf []byte) error {
	c, err := tls.Dial("tcp", front, conf)
	if err != nil {
		return err
	}
	defer c.Close()
	return pingByte(c, buf)
}
