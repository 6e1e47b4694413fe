package krbhttp

import (
	"context"
	"crypto"
	"crypto/md5"
	_ "crypto/sha256" // tls-server-end-point hashes
	_ "crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
)

// Channel bindings, as Windows clients and browsers on Windows send them
// over HTTPS (Extended Protection): the authenticator's GSS checksum
// (0x8003) carries in its Bnd field the MD5 of a gss_channel_bindings_struct
// whose application data is RFC 5929 "tls-server-end-point:" and the hash
// of the certificate the client saw on its TLS connection. Over plain HTTP
// Bnd is all zero (GSS_C_NO_CHANNEL_BINDINGS). This is a copy, on purpose
// independent of the host's (backend/binding.go), of the ~20 lines of RFC
// 5929 and RFC 4121 it takes.

// endPointBindings returns the Bnd field for the certificate cert: the MD5
// over initiator and acceptor address types and lengths (all 0), the
// application data's length (little-endian uint32s), then the data.
func endPointBindings(cert *x509.Certificate) ([16]byte, error) {
	h := crypto.SHA256 // RFC 5929 §4.1: MD5 and SHA-1 become SHA-256
	switch cert.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		h = crypto.SHA384
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		h = crypto.SHA512
	case x509.PureEd25519, x509.UnknownSignatureAlgorithm:
		return [16]byte{}, fmt.Errorf("certificate signed with %v: no tls-server-end-point hash", cert.SignatureAlgorithm)
	}
	d := h.New()
	d.Write(cert.Raw)
	app := d.Sum([]byte("tls-server-end-point:"))
	b := make([]byte, 20, 20+len(app))
	binary.LittleEndian.PutUint32(b[16:], uint32(len(app)))
	return md5.Sum(append(b, app...)), nil
}

// tlsChannel is a TLS connection opened before the token is made, so the
// token can be bound to the certificate seen on it.
type tlsChannel struct {
	conn *tls.Conn
	bnd  [16]byte
}

// openChannel dials u's host (or cfg.DialAddr) over TLS with the client's
// TLS settings, as the browser does before it answers a 401 on that
// connection. Plain HTTP: nil, no bindings.
func (c *Client) openChannel(ctx context.Context, u *url.URL) (*tlsChannel, error) {
	tr, ok := c.http.Transport.(*http.Transport)
	if u.Scheme != "https" || !ok || tr.DialContext == nil {
		return nil, nil
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	raw, err := tr.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return nil, err
	}
	tc := tr.TLSClientConfig.Clone()
	tc.ServerName = u.Hostname()
	conn := tls.Client(raw, tc)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	ch := &tlsChannel{conn: conn}
	if !c.cfg.NoChannelBindings {
		if ch.bnd, err = endPointBindings(conn.ConnectionState().PeerCertificates[0]); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return ch, nil
}

// client returns an HTTP client that sends its one request on ch's
// connection, or c's own client without a channel.
func (c *Client) clientOn(ch *tlsChannel) *http.Client {
	if ch == nil {
		return c.http
	}
	conn := ch.conn
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil,
		DialTLSContext: func(context.Context, string, string) (net.Conn, error) {
			if conn == nil {
				return nil, errors.New("krbhttp: one request per bound connection (a redirect?)")
			}
			cn := conn
			conn = nil
			return cn, nil
		}}
	return &http.Client{Transport: tr, Timeout: c.http.Timeout}
}
