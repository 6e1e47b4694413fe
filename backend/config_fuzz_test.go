package backend

import (
	"net"
	"strings"
	"testing"
)

// FuzzConfigYAML decodes arbitrary backend.yaml documents as LoadConfig
// does. A config that validates must still validate with its defaults
// resolved, and its PROXY trust list must build a listener (the policy
// constructor panics on an entry Validate let through).
func FuzzConfigYAML(f *testing.F) {
	f.Add("name: server1\nkeytab: k\nspn: HTTP/sso.krbfarm.localhost\nrealm: R\n")
	f.Add("name: s\nkeytab: k\nproxy_protocol: {trusted: [127.0.0.1/32, '::1', 10.0.0.0/8], required: true}\n")
	f.Add("name: s\nkeytab: k\nproxy_protocol: {trusted: ['10.0.0.0/33', '']}\nmaxFieldLength: -1\nmaxConnections: -2\nbody_timeout: -1s\nproviders: [ntlm, NTLM, x]\n")
	f.Add("name: s\nkeytab: k\nbatchLogonRight: false\nmax_header_bytes: 10\nmaxFieldLength: 20\nmax_clock_skew: 1h\nclock_offset: -10m\n")
	f.Add("name: s\nkeytab: k\ntls_cert: c\nunknown: 1\n")
	f.Add("name: s\nkeytab: k\nextendedProtection: {tokenChecking: accept, flags: [proxy, ProxyCohosting, AllowDotlessSpn], spns: [http/sso, HTTP/a.b]}\n")
	f.Add("name: s\nkeytab: k\nextendedProtection: {tokenChecking: Require, flags: [None, Proxy], spns: ['HTTP/a@R', HOST/x.y]}\n")
	f.Fuzz(func(t *testing.T, src string) {
		c, err := DecodeConfig(strings.NewReader(src))
		if err != nil || c.Validate() != nil {
			return
		}
		d := c.withDefaults()
		if err := d.Validate(); err != nil {
			t.Fatalf("valid config invalid after defaults: %v\n%s", err, src)
		}
		d.ProxyProtocol.wrap(nopListener{}, nil)
		switch p := newBindingPolicy(d.ExtendedProtection); p.mode {
		case TokenCheckingNone, TokenCheckingAllow, TokenCheckingRequire:
		default:
			t.Fatalf("valid config resolves to tokenChecking %q\n%s", p.mode, src)
		}
	})
}

// nopListener is a net.Listener that is never used.
type nopListener struct{ net.Listener }
