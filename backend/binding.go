package backend

import (
	"crypto"
	"crypto/md5"
	_ "crypto/sha256" // tls-server-end-point hashes
	_ "crypto/sha512"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Channel is what the host knows of the connection a token came on, for
// Extended Protection.
type Channel struct {
	// EndPoint is the RFC 5929 tls-server-end-point channel binding of the
	// certificate this host served on the connection: "tls-server-end-point:"
	// then the certificate's hash (TLSServerEndPoint). nil: this host did not
	// terminate TLS (plain HTTP, e.g. behind a load balancer that does).
	EndPoint []byte
}

// How a token's bindings were checked, in Identity.Binding.
const (
	BindingChannel = "tls-server-end-point" // its channel bindings matched this host's TLS certificate
	BindingService = "spn"                  // flags Proxy: its SPN passed the service binding check
)

// TLSServerEndPoint returns the RFC 5929 §4.1 tls-server-end-point channel
// binding of cert: "tls-server-end-point:" and the hash of the DER
// certificate, with SHA-256 when it is signed with MD5, SHA-1 or SHA-256,
// else with its signature's hash. A certificate whose signature has no
// hash (Ed25519) has no such binding: an error.
func TLSServerEndPoint(cert *x509.Certificate) ([]byte, error) {
	h, err := endPointHash(cert.SignatureAlgorithm)
	if err != nil {
		return nil, err
	}
	d := h.New()
	d.Write(cert.Raw)
	return d.Sum([]byte("tls-server-end-point:")), nil
}

func endPointHash(alg x509.SignatureAlgorithm) (crypto.Hash, error) {
	switch alg {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1,
		x509.SHA256WithRSA, x509.DSAWithSHA256, x509.ECDSAWithSHA256, x509.SHA256WithRSAPSS:
		return crypto.SHA256, nil
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		return crypto.SHA384, nil
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("certificate signed with %v: RFC 5929 defines no tls-server-end-point hash for it: use an RSA or ECDSA certificate", alg)
}

// ChannelBindingsHash is the RFC 4121 §4.1.1.2 Bnd field for a
// gss_channel_bindings_struct holding appData and no addresses, as MIT
// krb5 and Windows build it: MD5 over initiator address type and length,
// acceptor address type and length (all 0), the application data length,
// then the data; each number a little-endian uint32.
func ChannelBindingsHash(appData []byte) [16]byte {
	b := make([]byte, 20, 20+len(appData))
	binary.LittleEndian.PutUint32(b[16:], uint32(len(appData)))
	return md5.Sum(append(b, appData...))
}

// tokenBindings returns the Bnd field of the authenticator's GSS checksum
// (type 0x8003), and whether the client sent bindings: an all-zero Bnd,
// or no GSS checksum, means none (GSS_C_NO_CHANNEL_BINDINGS).
func tokenBindings(a *types.Authenticator) ([16]byte, bool) {
	var bnd [16]byte
	c := a.Cksum.Checksum
	if a.Cksum.CksumType != chksumtype.GSSAPI || len(c) < 20 {
		return bnd, false
	}
	copy(bnd[:], c[4:20])
	return bnd, bnd != [16]byte{}
}

// bindingPolicy is a resolved ExtendedProtection.
type bindingPolicy struct {
	mode  TokenChecking
	flags epaFlags
	spns  map[string]bool // lower case
}

func newBindingPolicy(e ExtendedProtection) bindingPolicy {
	p := bindingPolicy{mode: e.mode(), flags: e.flags(), spns: map[string]bool{}}
	for _, s := range e.SPNs {
		p.spns[strings.ToLower(s)] = true
	}
	return p
}

// check applies tokenChecking and the flags to a decrypted AP-REQ that
// came on ch. It returns how the token was bound (Identity.Binding).
func (p *bindingPolicy) check(req *messages.APReq, ch Channel) (string, error) {
	if p.mode == TokenCheckingNone || p.mode == "" {
		return "", nil
	}
	bnd, present := tokenBindings(&req.Authenticator)
	if p.flags&flagProxy != 0 {
		spn := req.Ticket.SName.PrincipalNameString()
		return p.serviceBinding(spn, "the ticket is for "+spn, present)
	}
	return p.channelBinding(bnd, present, ch)
}

// checkNTLM applies them to a verified NTLMv2 response's AV pairs, as
// http.sys does for NTLM: MsvAvChannelBindings in place of the
// authenticator's Bnd, MsvAvTargetName in place of the ticket's SPN.
func (p *bindingPolicy) checkNTLM(av ntlmClientAV, ch Channel) (string, error) {
	if p.mode == TokenCheckingNone || p.mode == "" {
		return "", nil
	}
	if p.flags&flagProxy != 0 {
		if av.target == "" && p.flags&flagNoServiceCheck == 0 {
			if p.mode != TokenCheckingRequire {
				return "", nil // Allow: a client without target names passes unbound
			}
			return "", bindingErr(ReasonServiceBinding, "tokenChecking Require with flags Proxy: the NTLM response names no target (no MsvAvTargetName), so it cannot be bound to a service: the client predates Extended Protection; tokenChecking Allow accepts it unbound")
		}
		return p.serviceBinding(av.target, "the NTLM response names target "+av.target+" (MsvAvTargetName)", av.bindings != [16]byte{})
	}
	return p.channelBinding(av.bindings, av.bindings != [16]byte{}, ch)
}

// channelBinding compares the token's bindings with this host's own TLS
// channel: the exact match of IIS without Proxy.
func (p *bindingPolicy) channelBinding(bnd [16]byte, present bool, ch Channel) (string, error) {
	switch {
	case !present && p.mode != TokenCheckingRequire:
		return "", nil
	case !present && ch.EndPoint == nil:
		return "", bindingErr(ReasonBindingMissing, "tokenChecking Require: the token carries no channel bindings, and this host serves plain HTTP, so it has no TLS channel to bind to: serve TLS on the host (pass-through, or bridging with the same certificate), or set flags Proxy with spns (service binding)")
	case !present:
		return "", bindingErr(ReasonBindingMissing, "tokenChecking Require: the token carries no channel bindings: the client does not support Extended Protection, or did not send them")
	case ch.EndPoint == nil:
		return "", bindingErr(ReasonBindingMismatch, "tokenChecking %s: the token is bound to a TLS channel, but this host serves plain HTTP (TLS ended before it, at a load balancer or proxy): there is no channel to match: pass TLS through to the host, or set flags Proxy with spns (service binding)", p.mode)
	case bnd != ChannelBindingsHash(ch.EndPoint):
		return "", bindingErr(ReasonBindingMismatch, "tokenChecking %s: the token's channel bindings do not match this host's TLS certificate (tls-server-end-point): the client saw another certificate, from a TLS-terminating proxy or a man in the middle", p.mode)
	}
	return BindingChannel, nil
}

// serviceBinding is http.sys's Proxy rule: no exact match (the client's
// bindings name the proxy's certificate), bindings present with Require
// unless ProxyCohosting, and the token's service name (spn, described
// by named) in spns unless NoServiceNameCheck.
func (p *bindingPolicy) serviceBinding(spn, named string, present bool) (string, error) {
	if !present && p.mode == TokenCheckingRequire && p.flags&flagCohosting == 0 {
		return "", bindingErr(ReasonBindingMissing, "tokenChecking Require with flags Proxy: the token carries no channel bindings, so the client did not reach the proxy over TLS (plain HTTP): add flag ProxyCohosting to accept such clients")
	}
	if p.flags&flagNoServiceCheck != 0 {
		return BindingService, nil
	}
	if !p.spns[strings.ToLower(spn)] {
		return "", bindingErr(ReasonServiceBinding, "flags Proxy: %s, which is not in extendedProtection.spns (%d listed): add it to spns if clients reach the site by that name", named, len(p.spns))
	}
	return BindingService, nil
}

func bindingErr(reason, detail string, args ...any) *AuthError {
	return &AuthError{Name: reason, Detail: fmt.Sprintf(detail, args...)}
}
