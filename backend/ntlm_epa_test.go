package backend

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestNTLMExtendedProtection: http.sys applies Extended Protection to
// NTLM as to Kerberos, reading the NTLMv2 response's AV pairs:
// MsvAvChannelBindings against this host's TLS certificate, and under
// flags Proxy MsvAvTargetName against spns. Each case runs the whole
// handshake (NEGOTIATE, CHALLENGE, AUTHENTICATE) on one connection.
func TestNTLMExtendedProtection(t *testing.T) {
	f := newFixture(t)
	certFile, keyFile, cert := testCert(t, newP256(t), x509.ECDSAWithSHA256)
	_, _, lbCert := testCert(t, newP256(t), x509.ECDSAWithSHA256)
	alice := func(bnd []byte, target string) ntlmClient {
		return ntlmClient{user: "alice", domain: "KRBFARM", password: "alice-password", bindings: bnd, target: target}
	}
	req, allow := TokenCheckingRequire, TokenCheckingAllow
	proxy := func(tc TokenChecking, spns ...string) ExtendedProtection {
		return ExtendedProtection{TokenChecking: tc, Flags: []string{EPAFlagProxy}, SPNs: spns}
	}
	mine, lbs := clientBnd(cert), clientBnd(lbCert)
	tampered := alice(mine, testSPN)
	tampered.tamper = true
	tests := []struct {
		name    string
		ep      ExtendedProtection
		tls     bool // the host terminates TLS with cert
		client  ntlmClient
		reason  string // "" = 200
		binding string // Identity.Binding on a 200
	}{
		{"None, bound elsewhere", ExtendedProtection{}, true, alice(lbs, testSPN), "", ""},
		{"Require over TLS, bound to this host", ExtendedProtection{TokenChecking: req}, true, alice(mine, testSPN), "", BindingChannel},
		{"Require over TLS, no bindings", ExtendedProtection{TokenChecking: req}, true, alice(nil, ""), ReasonBindingMissing, ""},
		{"Require over TLS, all-zero bindings", ExtendedProtection{TokenChecking: req}, true, alice(make([]byte, 16), testSPN), ReasonBindingMissing, ""},
		{"Require over TLS, bound to the LB's certificate", ExtendedProtection{TokenChecking: req}, true, alice(lbs, testSPN), ReasonBindingMismatch, ""},
		{"Require over TLS, bindings rewritten in flight", ExtendedProtection{TokenChecking: req}, true, tampered, ReasonNTLMBadPassword, ""},
		{"Allow over TLS, no bindings", ExtendedProtection{TokenChecking: allow}, true, alice(nil, ""), "", ""},
		{"Allow over TLS, bound to the LB's certificate", ExtendedProtection{TokenChecking: allow}, true, alice(lbs, ""), ReasonBindingMismatch, ""},
		{"Require behind a TLS-terminating LB", ExtendedProtection{TokenChecking: req}, false, alice(lbs, testSPN), ReasonBindingMismatch, ""},
		{"Require Proxy, target listed", proxy(req, testSPN), false, alice(lbs, testSPN), "", BindingService},
		{"Require Proxy, target listed in another case", proxy(req, "http/SSO.krbfarm.localhost"), false, alice(lbs, testSPN), "", BindingService},
		{"Require Proxy, target not listed", proxy(req, "HTTP/other.krbfarm.localhost"), false, alice(lbs, testSPN), ReasonServiceBinding, ""},
		{"Require Proxy, no target name", proxy(req, testSPN), false, alice(lbs, ""), ReasonServiceBinding, ""},
		{"Require Proxy, no bindings", proxy(req, testSPN), false, alice(nil, testSPN), ReasonBindingMissing, ""},
		{"Allow Proxy, no target name", proxy(allow, testSPN), false, alice(lbs, ""), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cf, kf := "", ""
			if tt.tls {
				cf, kf = certFile, keyFile
			}
			addr, evPath := ntlmEPASite(t, f, tt.ep, cf, kf)
			c := dial(t, addr)
			if tt.tls {
				c = overTLS(t, c, cert)
			}
			resp, _ := c.get("/", "Authorization", wrap(t, "NTLM", false, true, ntlmType1()))
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("NEGOTIATE: status %d; want 401 with a challenge", resp.StatusCode)
			}
			ch := challengeOf(t, resp.Header.Get("WWW-Authenticate"), "NTLM", false)
			resp, b := c.get("/", "Authorization", wrap(t, "NTLM", false, false, tt.client.authenticate(t, ch)))
			ev := eventsOf(t, evPath)
			if tt.reason != "" {
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("AUTHENTICATE: status %d %q; want 401 %s", resp.StatusCode, b, tt.reason)
				}
				if len(ev) != 1 || ev[0].ID != EventLogonFailure || ev[0].Reason != tt.reason || ev[0].Package != "NTLM" || ev[0].User != `KRBFARM\alice` {
					t.Errorf("events %+v; want one 4625, package NTLM, user KRBFARM\\alice, reason %s", ev, tt.reason)
				}
				if strings.HasPrefix(tt.reason, "EPA_") && (len(ev) != 1 || ev[0].Status != "0xC000035B") {
					t.Errorf("events %+v; want status 0xC000035B (STATUS_BAD_BINDINGS)", ev)
				}
				return
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("AUTHENTICATE: status %d %q; want 200", resp.StatusCode, b)
			}
			if m := body(t, b); m["mechanism"] != "NTLM" || m["binding"] != tt.binding && !(tt.binding == "" && m["binding"] == nil) {
				t.Errorf("body %v; want NTLM with binding %q", m, tt.binding)
			}
		})
	}
}

// ntlmEPASite serves a site with the NTLM users file and ep, terminating
// TLS with certFile/keyFile when they are set; it returns its address and
// the path of its event log.
func ntlmEPASite(t *testing.T, f *fixture, ep ExtendedProtection, certFile, keyFile string) (addr, events string) {
	t.Helper()
	s, _ := newSite(t, "server1", f.siteKT, withEvents(t, &events, func(c *Config) {
		c.NTLMUsers, c.ExtendedProtection = ntlmUsersFile(t), ep
		c.TLSCert, c.TLSKey = certFile, keyFile
	}))
	return serve(t, s), events
}

// overTLS starts TLS on c's connection, trusting cert.
func overTLS(t *testing.T, c *conn, cert *x509.Certificate) *conn {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	tc := tls.Client(c.c, &tls.Config{RootCAs: pool, ServerName: "sso.krbfarm.localhost"})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	return &conn{t: t, addr: c.addr, c: tc, br: bufio.NewReader(tc)}
}

func TestNTLMv2Pairs(t *testing.T) {
	bnd := []byte("0123456789abcdef")
	head := make([]byte, 16+28) // NTProofStr and the client challenge's header
	pairs := func(ps ...[]byte) []byte {
		b := append([]byte{}, head...)
		for _, p := range ps {
			b = append(b, p...)
		}
		return b
	}
	tests := []struct {
		name   string
		resp   []byte
		bnd    []byte // want; nil = none
		target string
	}{
		{"both", pairs(appendAVPair(nil, 0x0002, utf16le("KRBFARM")), appendAVPair(nil, 0x000A, bnd), appendAVPair(nil, 0x0009, utf16le(testSPN)), []byte{0, 0, 0, 0}), bnd, testSPN},
		{"none", pairs(appendAVPair(nil, 0x0002, utf16le("KRBFARM")), []byte{0, 0, 0, 0}), nil, ""},
		{"after EOL", pairs([]byte{0, 0, 0, 0}, appendAVPair(nil, 0x000A, bnd)), nil, ""},
		{"cut short", pairs(appendAVPair(nil, 0x0009, utf16le(testSPN)), appendAVPair(nil, 0x000A, bnd)[:10]), nil, testSPN},
		{"bindings of the wrong size", pairs(appendAVPair(nil, 0x000A, bnd[:8])), nil, ""},
		{"too short for a client challenge", head[:30], nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			av := ntlmv2Pairs(tt.resp)
			var want [16]byte
			copy(want[:], tt.bnd)
			if av.bindings != want || av.target != tt.target {
				t.Errorf("got bindings %x target %q; want %x %q", av.bindings, av.target, want, tt.target)
			}
		})
	}
}

// TestNTLMChallengeGrantsAskedFlags: the CHALLENGE grants SIGN, SEAL and
// KEY_EXCH when the NEGOTIATE asked for them (gss-ntlmssp refuses a
// challenge that drops a flag it requires), and only then.
func TestNTLMChallengeGrantsAskedFlags(t *testing.T) {
	names := newNTLMNames("server1", testRealm)
	asked := uint32(ntlmFlagSign | ntlmFlagSeal | ntlmFlagKeyExch)
	for _, c := range []struct {
		client, want uint32
	}{{asked, asked}, {ntlmFlagSign, ntlmFlagSign}, {0, 0}} {
		got := ntlmFlags(buildNTLMChallenge([]byte("12345678"), c.client|ntlmFlagUnicode, names, time.Now()), 20) & asked
		if got != c.want {
			t.Errorf("client asked %#x: challenge grants %#x of SIGN|SEAL|KEY_EXCH; want %#x", c.client, got, c.want)
		}
	}
}

// TestNTLMMIC: an AUTHENTICATE that says it carries a MIC (MsvAvFlags
// 0x2) is accepted only when the MIC covers the NEGOTIATE and CHALLENGE
// this connection exchanged; without the flag none is checked.
func TestNTLMMIC(t *testing.T) {
	f := newFixture(t)
	alice := ntlmClient{user: "alice", domain: "KRBFARM", password: "alice-password"}
	withMIC, badMIC, keyExch, keyExchBad := alice, alice, alice, alice
	withMIC.mic = true
	badMIC.mic, badMIC.badMIC = true, true
	keyExch.mic, keyExch.keyExch = true, true
	keyExchBad.mic, keyExchBad.keyExch, keyExchBad.badMIC = true, true, true
	tests := []struct {
		name   string
		client ntlmClient
		reason string
	}{
		{"no MIC", alice, ""},
		{"MIC over the three messages", withMIC, ""},
		{"MIC altered", badMIC, ReasonNTLMBadMIC},
		{"MIC under a KEY_EXCH session key", keyExch, ""},
		{"MIC under a KEY_EXCH session key, altered", keyExchBad, ReasonNTLMBadMIC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var evPath string
			s, _ := newSite(t, "server1", f.siteKT, withEvents(t, &evPath, func(c *Config) { c.NTLMUsers = ntlmUsersFile(t) }))
			c := dial(t, serve(t, s))
			resp, _ := c.get("/", "Authorization", wrap(t, "NTLM", false, true, ntlmType1()))
			ch := challengeOf(t, resp.Header.Get("WWW-Authenticate"), "NTLM", false)
			resp, b := c.get("/", "Authorization", wrap(t, "NTLM", false, false, tt.client.authenticate(t, ch)))
			if tt.reason == "" {
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d %q; want 200", resp.StatusCode, b)
				}
				return
			}
			ev := eventsOf(t, evPath)
			if resp.StatusCode != http.StatusUnauthorized || len(ev) != 1 || ev[0].Reason != tt.reason || ev[0].Package != "NTLM" {
				t.Errorf("status %d, events %+v; want 401 and a 4625 NTLM %s", resp.StatusCode, ev, tt.reason)
			}
		})
	}
}

// MS-NLMP 4.2.4.1.3 (NTLMv2): the session base key of the spec's example,
// from its NTOWFv2 (TestNTLMKnownAnswers) and NTProofStr.
func TestNTLMSessionBaseKeyKnownAnswer(t *testing.T) {
	ntowf, _ := hex.DecodeString("0c868a403bfd7a93a3001ef22ef02e3f")
	proof, _ := hex.DecodeString("68cd0ab851e51c96aabc927bebef6a1c")
	if got := hex.EncodeToString(hmacMD5(ntowf, proof)); got != "8de40ccadbc14a82f15cb0ad0de95ca3" {
		t.Errorf("SessionBaseKey %s; want 8de40ccadbc14a82f15cb0ad0de95ca3", got)
	}
}
