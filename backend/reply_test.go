package backend

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// wantReply is what the host's 200 must carry in WWW-Authenticate.
type wantReply struct {
	none   bool                  // no header at all
	spnego bool                  // a NegTokenResp (else a bare KRB5 token)
	mech   asn1.ObjectIdentifier // its supportedMech
	apRep  bool                  // an AP-REP inside
	subkey int32                 // the acceptor subkey's etype; 0 = none
}

func TestAcceptReply(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		spec ticketSpec
		want wantReply
	}{
		{"SPNEGO mutual aes256", ticketSpec{mutual: true},
			wantReply{spnego: true, mech: oidKRB5(), apRep: true, subkey: aes256}},
		{"SPNEGO mutual, MS KRB5 OID first (Windows)", ticketSpec{mutual: true, mechs: []asn1.ObjectIdentifier{oidMSKRB5(), oidKRB5()}},
			wantReply{spnego: true, mech: oidMSKRB5(), apRep: true, subkey: aes256}},
		{"SPNEGO mutual aes256 with client subkey", ticketSpec{mutual: true, subkey: aes256},
			wantReply{spnego: true, mech: oidKRB5(), apRep: true, subkey: aes256}},
		{"SPNEGO mutual rc4: no acceptor subkey", ticketSpec{mutual: true, etype: rc4},
			wantReply{spnego: true, mech: oidKRB5(), apRep: true}},
		{"SPNEGO without mutual: accept-completed only", ticketSpec{},
			wantReply{spnego: true, mech: oidKRB5()}},
		{"raw KRB5 mutual: bare AP-REP", ticketSpec{mutual: true, raw: true},
			wantReply{apRep: true, subkey: aes256}},
		{"raw KRB5 without mutual: nothing", ticketSpec{raw: true}, wantReply{none: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newSite(t, "server1", f.siteKT, nil)
			tt.spec.kdc = f.kdc
			auth, m := mintKeep(t, tt.spec)
			w := get(s, auth)
			if w.Code != 200 {
				t.Fatalf("status %d; want 200", w.Code)
			}
			checkReply(t, w.Header().Values("WWW-Authenticate"), m, tt.want)
		})
	}
}

// checkReply decodes the host's reply and checks it against want and, for
// an AP-REP, against what the client sent (m), as a client would.
func checkReply(t *testing.T, hdrs []string, m minted, want wantReply) {
	t.Helper()
	if want.none {
		if len(hdrs) != 0 {
			t.Fatalf("WWW-Authenticate %q; want none", hdrs)
		}
		return
	}
	if len(hdrs) != 1 || !strings.HasPrefix(hdrs[0], "Negotiate ") {
		t.Fatalf("WWW-Authenticate %q; want one Negotiate <token>", hdrs)
	}
	tok, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(hdrs[0], "Negotiate "))
	if err != nil {
		t.Fatalf("reply token base64: %v", err)
	}
	if want.spnego {
		tok = checkNegTokenResp(t, tok, want.mech)
	}
	if !want.apRep {
		if len(tok) != 0 {
			t.Fatalf("reply carries a %d-byte mechanism token; want none", len(tok))
		}
		return
	}
	checkAPRep(t, tok, m, want.subkey)
}

func checkNegTokenResp(t *testing.T, tok []byte, mech asn1.ObjectIdentifier) []byte {
	t.Helper()
	var resp spnego.NegTokenResp
	if err := resp.Unmarshal(tok); err != nil {
		t.Fatalf("NegTokenResp: %v", err)
	}
	if resp.NegState != asn1.Enumerated(spnego.NegStateAcceptCompleted) || !resp.SupportedMech.Equal(mech) {
		t.Fatalf("NegTokenResp negState %d supportedMech %v; want 0 (accept-completed) %v", resp.NegState, resp.SupportedMech, mech)
	}
	if len(resp.MechListMIC) != 0 {
		t.Errorf("NegTokenResp carries a mechListMIC; want none")
	}
	return resp.ResponseToken
}

// checkAPRep checks a GSS-framed AP-REP: RFC 4121 framing and token ID,
// then what MIT's krb5_rd_rep checks, decrypting with the session key.
func checkAPRep(t *testing.T, tok []byte, m minted, subkey int32) {
	t.Helper()
	var oid asn1.ObjectIdentifier
	rest, err := asn1.UnmarshalWithParams(tok, &oid, "application,explicit,tag:0")
	if err != nil || !oid.Equal(oidKRB5()) || len(rest) < 2 || rest[0] != 0x02 || rest[1] != 0x00 {
		t.Fatalf("GSS framing: OID %v, token ID % x, %v; want %v, 02 00", oid, rest[:min(2, len(rest))], err, oidKRB5())
	}
	var kt spnego.KRB5Token
	if err := kt.Unmarshal(tok); err != nil || !kt.IsAPRep() {
		t.Fatalf("KRB5 token: %v, AP-REP %v", err, kt.IsAPRep())
	}
	plain, err := crypto.DecryptEncPart(kt.APRep.EncPart, m.session, keyusage.AP_REP_ENCPART)
	if err != nil {
		t.Fatalf("AP-REP does not decrypt with the session key (usage 12): %v", err)
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(plain); err != nil {
		t.Fatalf("EncAPRepPart: %v", err)
	}
	if !part.CTime.Equal(m.auth.CTime) || part.Cusec != m.auth.Cusec {
		t.Errorf("ctime %v cusec %d; want the authenticator's %v %d", part.CTime, part.Cusec, m.auth.CTime, m.auth.Cusec)
	}
	if part.SequenceNumber < 0 || part.SequenceNumber >= 1<<30 {
		t.Errorf("seq-number %d; want 0..2^30-1", part.SequenceNumber)
	}
	if part.Subkey.KeyType != subkey {
		t.Errorf("acceptor subkey etype %d; want %d", part.Subkey.KeyType, subkey)
	}
	if subkey != 0 && (string(part.Subkey.KeyValue) == string(m.session.KeyValue) || string(part.Subkey.KeyValue) == string(m.auth.SubKey.KeyValue)) {
		t.Errorf("acceptor subkey repeats the session key or the client's subkey; want a fresh key")
	}
}

// TestReplyOnPersistedConnection: on a connection that stays authenticated
// (authPersistNonNTLM), a new token gets its own reply, and a token-less
// request none.
func TestReplyOnPersistedConnection(t *testing.T) {
	f := newFixture(t)
	s, _ := newSite(t, "server1", f.siteKT, nil)
	c := dial(t, serve(t, s))
	for i, step := range []struct {
		token bool
		want  wantReply
	}{
		{true, wantReply{spnego: true, mech: oidKRB5(), apRep: true, subkey: aes256}},
		{false, wantReply{none: true}},
		{true, wantReply{spnego: true, mech: oidKRB5(), apRep: true, subkey: aes256}},
	} {
		var hdr []string
		var m minted
		if step.token {
			var auth string
			auth, m = mintKeep(t, ticketSpec{kdc: f.kdc, mutual: true})
			hdr = []string{"Authorization", auth}
		}
		resp, _ := c.get("/", hdr...)
		if resp.StatusCode != 200 || resp.Header.Get("Persistent-Auth") != "true" {
			t.Fatalf("request %d: %d Persistent-Auth %q; want 200 true", i, resp.StatusCode, resp.Header.Get("Persistent-Auth"))
		}
		checkReply(t, resp.Header.Values("WWW-Authenticate"), m, step.want)
	}
}

// TestRefusalHasNoReply: a refused token gets the bare challenge, never a
// mechanism token.
func TestRefusalHasNoReply(t *testing.T) {
	f := newFixture(t)
	s, _ := newSite(t, "server1", f.siteKT, nil)
	w := get(s, mint(t, ticketSpec{kdc: f.wrongPW, mutual: true}))
	got := w.Header().Values("WWW-Authenticate")
	if w.Code != 401 || len(got) == 0 {
		t.Fatalf("refused: %d %q; want 401 and a challenge", w.Code, got)
	}
	for _, h := range got {
		if strings.Contains(h, " ") {
			t.Errorf("refused: WWW-Authenticate %q carries a token; want the bare scheme", h)
		}
	}
}

// BenchmarkAcceptMutual is BenchmarkVerify plus the AP-REP: the cost of
// mutual authentication per logon (compare the two).
func BenchmarkAcceptMutual(b *testing.B) {
	kt := newKeytab(b, testSPN, testPass, 2, aes256)
	v := NewVerifier(Config{SPN: testSPN, Realm: testRealm}, kt, nil)
	toks := make([]string, b.N)
	t0 := time.Now().UTC()
	for i := range toks {
		toks[i] = mint(b, ticketSpec{kdc: kt, mutual: true, ctime: t0.Add(-time.Duration(i) * time.Microsecond)})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, reply, err := v.Accept(toks[i], "127.0.0.1:1"); err != nil || reply == nil {
			b.Fatal(err)
		}
	}
}
