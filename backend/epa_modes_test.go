package backend

import (
	"crypto/x509"
	"net/http"
	"testing"
)

// TestExtendedProtectionTLS: every tokenChecking mode against tokens with
// no bindings, bindings for the certificate the host served, and bindings
// for another certificate (what a client behind a TLS-terminating proxy or
// a man in the middle sends), over a real TLS listener.
func TestExtendedProtectionTLS(t *testing.T) {
	f := newFixture(t)
	certFile, keyFile, cert := testCert(t, newP256(t), x509.ECDSAWithSHA256)
	_, _, other := testCert(t, newP256(t), x509.ECDSAWithSHA256)
	type want struct {
		reason  string // "" = 200
		binding string // Identity.Binding on a 200
	}
	ok, okBound := want{}, want{binding: BindingChannel}
	missing, mismatch := want{reason: ReasonBindingMissing}, want{reason: ReasonBindingMismatch}
	tests := []struct {
		name                   string
		ep                     ExtendedProtection
		none, matching, others want
	}{
		{"None", ExtendedProtection{}, ok, ok, ok},
		{"Allow", ExtendedProtection{TokenChecking: TokenCheckingAllow}, ok, okBound, mismatch},
		{"Require", ExtendedProtection{TokenChecking: TokenCheckingRequire}, missing, okBound, mismatch},
		// Proxy: http.sys skips the exact match (the bindings name the
		// proxy's certificate) and checks the SPN instead.
		{"Require Proxy", ExtendedProtection{TokenChecking: TokenCheckingRequire, Flags: []string{EPAFlagProxy}, SPNs: []string{testSPN}},
			missing, want{binding: BindingService}, want{binding: BindingService}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := serveEPA(t, f, tt.ep, certFile, keyFile, cert)
			seen := e.peerCert(t)
			for _, c := range []struct {
				name string
				bnd  []byte
				want want
			}{
				{"no bindings", nil, tt.none},
				{"matching bindings", clientBnd(seen), tt.matching},
				{"bindings for another certificate", clientBnd(other), tt.others},
			} {
				t.Run(c.name, func(t *testing.T) {
					status, id := e.get(t, mint(t, ticketSpec{kdc: f.kdc, bnd: c.bnd, mutual: true}))
					if c.want.reason != "" {
						if status != http.StatusUnauthorized {
							t.Fatalf("status %d; want 401 %s", status, c.want.reason)
						}
						e.checkRefusal(t, c.want.reason)
						return
					}
					if status != http.StatusOK {
						t.Fatalf("status %d; want 200", status)
					}
					if id.Binding != c.want.binding {
						t.Errorf("binding %q; want %q", id.Binding, c.want.binding)
					}
				})
			}
		})
	}
}

// TestExtendedProtectionPlainHTTP: a host that does not terminate TLS
// (behind a load balancer that does): channel binding has no channel;
// flags Proxy checks the ticket's SPN against spns instead.
func TestExtendedProtectionPlainHTTP(t *testing.T) {
	f := newFixture(t)
	_, _, lbCert := testCert(t, newP256(t), x509.ECDSAWithSHA256)
	lbBnd := clientBnd(lbCert) // the client saw the load balancer's certificate
	req, allow := TokenCheckingRequire, TokenCheckingAllow
	proxy := func(tc TokenChecking, spns []string, flags ...string) ExtendedProtection {
		return ExtendedProtection{TokenChecking: tc, Flags: append([]string{EPAFlagProxy}, flags...), SPNs: spns}
	}
	site := []string{testSPN}
	tests := []struct {
		name   string
		ep     ExtendedProtection
		bnd    []byte
		reason string // "" = 200
	}{
		{"Require, bound to the LB: no channel here", ExtendedProtection{TokenChecking: req}, lbBnd, ReasonBindingMismatch},
		{"Require, no bindings", ExtendedProtection{TokenChecking: req}, nil, ReasonBindingMissing},
		{"Allow, bound to the LB", ExtendedProtection{TokenChecking: allow}, lbBnd, ReasonBindingMismatch},
		{"Allow, no bindings", ExtendedProtection{TokenChecking: allow}, nil, ""},
		{"Require Proxy, SPN listed", proxy(req, site), lbBnd, ""},
		{"Require Proxy, SPN listed in another case", proxy(req, []string{"http/SSO.krbfarm.localhost"}), lbBnd, ""},
		{"Require Proxy, SPN not listed", proxy(req, []string{"HTTP/other.krbfarm.localhost"}), lbBnd, ReasonServiceBinding},
		{"Require Proxy, no bindings (plain HTTP client)", proxy(req, site), nil, ReasonBindingMissing},
		{"Require Proxy ProxyCohosting, no bindings", proxy(req, site, EPAFlagProxyCohosting), nil, ""},
		{"Require Proxy ProxyCohosting, SPN not listed", proxy(req, []string{"HTTP/other.krbfarm.localhost"}, EPAFlagProxyCohosting), nil, ReasonServiceBinding},
		{"Require Proxy NoServiceNameCheck", proxy(req, nil, EPAFlagNoServiceNameCheck), lbBnd, ""},
		{"Allow Proxy, no bindings, SPN not listed", proxy(allow, []string{"HTTP/other.krbfarm.localhost"}), nil, ReasonServiceBinding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := serveEPA(t, f, tt.ep, "", "", nil)
			status, id := e.get(t, mint(t, ticketSpec{kdc: f.kdc, bnd: tt.bnd}))
			if tt.reason != "" {
				if status != http.StatusUnauthorized {
					t.Fatalf("status %d; want 401 %s", status, tt.reason)
				}
				e.checkRefusal(t, tt.reason)
				return
			}
			if status != http.StatusOK {
				t.Fatalf("status %d; want 200", status)
			}
			if tt.ep.Flags != nil && id.Binding != BindingService {
				t.Errorf("binding %q; want %q", id.Binding, BindingService)
			}
		})
	}
}

// TestExtendedProtectionRefusalNotReplayed: a token refused for its
// channel is not remembered, so the client it belongs to can still use it.
func TestExtendedProtectionRefusalNotReplayed(t *testing.T) {
	f := newFixture(t)
	s, _ := newSite(t, "server1", f.siteKT, func(c *Config) {
		c.ExtendedProtection.TokenChecking = TokenCheckingRequire
	})
	ep := []byte("tls-server-end-point:host")
	bnd := ChannelBindingsHash(ep)
	tok := mint(t, ticketSpec{kdc: f.kdc, bnd: bnd[:]})
	if _, _, err := s.Verifier().AcceptOn(tok, "mitm", Channel{EndPoint: []byte("tls-server-end-point:other")}); err == nil {
		t.Fatal("token accepted on another channel")
	}
	if _, _, err := s.Verifier().AcceptOn(tok, "client", Channel{EndPoint: ep}); err != nil {
		t.Errorf("token refused on its own channel after a refusal elsewhere: %v", err)
	}
}
