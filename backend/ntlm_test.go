package backend

import (
	"bytes"
	"context"
	arc4 "crypto/rc4"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// MS-NLMP 4.2.4: User "User", domain "Domain", password "Password".
func TestNTLMKnownAnswers(t *testing.T) {
	tests := []struct{ name, got, want string }{
		{"NT hash", hex.EncodeToString(NTHash("Password")), "a4f49c406510bdcab6824ee7c30fd852"},
		{"NTOWFv2", hex.EncodeToString(hmacMD5(NTHash("Password"), utf16le(strings.ToUpper("User")+"Domain"))), "0c868a403bfd7a93a3001ef22ef02e3f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %s; want %s", tt.got, tt.want)
			}
		})
	}
}

// ntlmClient builds the client's NTLM messages, as a browser would.
type ntlmClient struct {
	user, domain, password string
	v1                     bool // send a 24-byte NTLMv1-style response
	// Extended Protection, as Windows clients add them to the server's
	// AV pairs: MsvAvChannelBindings (16 bytes; nil: none) and
	// MsvAvTargetName ("": none).
	bindings []byte
	target   string
	// tamper flips a bit of the channel bindings after the response is
	// computed, as a man in the middle rewriting them would.
	tamper bool
	// mic sets MsvAvFlags 0x2 and sends a MIC over the three messages,
	// the NEGOTIATE being ntlmType1(); badMIC then flips a bit of it;
	// keyExch sends a random session key (KEY_EXCH), which keys the MIC.
	mic, badMIC, keyExch bool
}

// authenticate answers a CHALLENGE_MESSAGE with an AUTHENTICATE_MESSAGE
// carrying an NTLMv2 response (MS-NLMP 3.3.2).
func (c ntlmClient) authenticate(t testing.TB, challenge []byte) []byte {
	t.Helper()
	if ntlmMessageType(challenge) != ntlmTypeChallenge {
		t.Fatalf("not a CHALLENGE message: %x", challenge)
	}
	info, err := secBuf(challenge, 40)
	if err != nil {
		t.Fatal(err)
	}
	blob := []byte{1, 1, 0, 0, 0, 0, 0, 0}
	blob = binary.LittleEndian.AppendUint64(blob, fileTime(time.Now()))
	blob = append(blob, "cli-chal"...)
	pairs := info
	if c.bindings != nil || c.target != "" || c.mic {
		// The server's pairs end with MsvAvEOL (4 zero bytes): insert before it.
		pairs = bytes.Clone(info[:len(info)-4])
		if c.bindings != nil {
			pairs = appendAVPair(pairs, 0x000A, c.bindings)
		}
		if c.target != "" {
			pairs = appendAVPair(pairs, 0x0009, utf16le(c.target))
		}
		if c.mic {
			pairs = appendAVPair(pairs, 0x0006, binary.LittleEndian.AppendUint32(nil, 2))
		}
		pairs = append(pairs, 0, 0, 0, 0)
	}
	blob = append(append(append(blob, 0, 0, 0, 0), pairs...), 0, 0, 0, 0)
	key := hmacMD5(NTHash(c.password), utf16le(strings.ToUpper(c.user)+c.domain))
	nt := append(hmacMD5(key, challenge[24:32], blob), blob...)
	if c.tamper {
		i := bytes.Index(nt, c.bindings)
		if i < 0 {
			t.Fatal("tamper: no bindings in the response")
		}
		nt[i] ^= 1
	}
	if c.v1 {
		nt = nt[:24]
	}
	if !c.mic {
		return buildAuthenticate(64, make([]byte, 24), nt, utf16le(c.domain), utf16le(c.user), utf16le("WS1"))
	}
	// MS-NLMP 3.1.5.1.2 without KEY_EXCH: the exported session key is
	// HMAC-MD5(NTOWFv2, NTProofStr); the MIC, at offset 72 after the
	// Version, is HMAC-MD5 of it over the three messages, MIC zeroed.
	fields := [][]byte{make([]byte, 24), nt, utf16le(c.domain), utf16le(c.user), utf16le("WS1")}
	exported := hmacMD5(key, nt[:16])
	if c.keyExch {
		// MS-NLMP 3.1.5.1.2: EncryptedRandomSessionKey = RC4K(KeyExchangeKey, random).
		random := []byte("a random session")
		rc, err := arc4.NewCipher(exported)
		if err != nil {
			t.Fatal(err)
		}
		enc := make([]byte, 16)
		rc.XORKeyStream(enc, random)
		fields, exported = append(fields, enc), random
	}
	auth := buildAuthenticate(88, fields...)
	mic := hmacMD5(exported, ntlmType1(), challenge, auth)
	copy(auth[72:88], mic)
	if c.badMIC {
		auth[72] ^= 1
	}
	return auth
}

// appendAVPair appends an AV_PAIR (MS-NLMP 2.2.2.1): AvId, AvLen (both
// little-endian uint16), then the value.
func appendAVPair(b []byte, id uint16, v []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, id)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

// buildAuthenticate lays out an AUTHENTICATE_MESSAGE with its payloads.
// hdr is 64, or 88 with room for the Version and the MIC.
func buildAuthenticate(hdr int, fields ...[]byte) []byte {
	b := make([]byte, hdr)
	copy(b, ntlmSignature)
	binary.LittleEndian.PutUint32(b[8:], ntlmTypeAuthenticate)
	off := hdr
	for i, f := range fields { // LM, NT, domain, user, workstation
		putSecBuf(b[12+8*i:], len(f), off)
		off += len(f)
	}
	flags := uint32(ntlmFlagUnicode | ntlmFlagNTLM | ntlmFlagExtendedSecurity | ntlmFlagTargetInfo)
	if len(fields) > 5 { // and EncryptedRandomSessionKey
		flags |= ntlmFlagKeyExch
	} else {
		putSecBuf(b[52:], 0, off)
	}
	binary.LittleEndian.PutUint32(b[60:], flags)
	for _, f := range fields {
		b = append(b, f...)
	}
	return b
}

// ntlmUsersFile writes an ntlm_users file for alice.
func ntlmUsersFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ntlm_users")
	if err := WriteNTLMUsers(p, map[string]string{"alice": "alice-password", "bob": "bob-password"}); err != nil {
		t.Fatal(err)
	}
	return p
}

// challengeOf extracts the NTLM CHALLENGE from a 401's header in scheme.
func challengeOf(t *testing.T, h, scheme string, wrapped bool) []byte {
	t.Helper()
	b64, ok := strings.CutPrefix(h, scheme+" ")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil {
		t.Fatalf("WWW-Authenticate %q: want %s <base64>", h, scheme)
	}
	if wrapped {
		var st spnego.SPNEGOToken
		if err := st.Unmarshal(raw); err != nil || !st.Resp {
			t.Fatalf("not a NegTokenResp: %v", err)
		}
		raw = st.NegTokenResp.ResponseToken
	}
	return raw
}

// wrap puts an NTLM message in the form the scheme and wrapping ask for.
func wrap(t *testing.T, scheme string, wrapped, first bool, msg []byte) string {
	if !wrapped {
		return scheme + " " + base64.StdEncoding.EncodeToString(msg)
	}
	st := spnego.SPNEGOToken{Resp: true, NegTokenResp: spnego.NegTokenResp{NegState: 1, ResponseToken: msg}}
	if first {
		st = spnego.SPNEGOToken{Init: true, NegTokenInit: spnego.NegTokenInit{MechTypes: []asn1.ObjectIdentifier{oidNTLM()}, MechTokenBytes: msg}}
	}
	b, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return scheme + " " + base64.StdEncoding.EncodeToString(b)
}

func TestNTLMHandshake(t *testing.T) {
	f := newFixture(t)
	alice := ntlmClient{user: "alice", domain: "KRBFARM", password: "alice-password"}
	tests := []struct {
		name    string
		scheme  string
		wrapped bool
		client  ntlmClient
		newConn bool // send the AUTHENTICATE on another connection
		noUsers bool
		status  int
		reason  string // 4625 reason
		sub     string
	}{
		{name: "NTLM scheme", scheme: "NTLM", client: alice, status: 200},
		{name: "raw NTLM in Negotiate", scheme: "Negotiate", client: alice, status: 200},
		{name: "NTLM in SPNEGO", scheme: "Negotiate", wrapped: true, client: alice, status: 200},
		{name: "user name in upper case, another domain", scheme: "NTLM", client: ntlmClient{user: "ALICE", domain: "other", password: "alice-password"}, status: 200},
		{name: "wrong password", scheme: "NTLM", client: ntlmClient{user: "alice", domain: "KRBFARM", password: "nope"},
			status: 401, reason: ReasonNTLMBadPassword, sub: "0xC000006A"},
		{name: "unknown user", scheme: "NTLM", client: ntlmClient{user: "mallory", password: "x"}, status: 401, reason: ReasonNTLMNoUser, sub: "0xC0000064"},
		{name: "no ntlm_users file", scheme: "NTLM", client: alice, noUsers: true, status: 401, reason: ReasonNTLMNoUser, sub: "0xC0000064"},
		{name: "NTLMv1 response", scheme: "NTLM", client: ntlmClient{user: "alice", password: "alice-password", v1: true},
			status: 401, reason: ReasonNTLMv1, sub: "0x0"},
		{name: "AUTHENTICATE on another connection", scheme: "NTLM", client: alice, newConn: true,
			status: 401, reason: ReasonNTLMNoChallenge, sub: "0x0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var evPath string
			s, _ := newSite(t, "server1", f.siteKT, withEvents(t, &evPath, func(c *Config) {
				if !tt.noUsers {
					c.NTLMUsers = ntlmUsersFile(t)
				}
			}))
			addr := serve(t, s)
			c := dial(t, addr)
			resp, _ := c.get("/", "Authorization", wrap(t, tt.scheme, tt.wrapped, true, ntlmType1()))
			if resp.StatusCode != 401 {
				t.Fatalf("NEGOTIATE: status %d; want 401 with a challenge", resp.StatusCode)
			}
			ch := challengeOf(t, resp.Header.Get("WWW-Authenticate"), tt.scheme, tt.wrapped)
			if tt.newConn {
				c = dial(t, addr)
			}
			resp, b := c.get("/", "Authorization", wrap(t, tt.scheme, tt.wrapped, false, tt.client.authenticate(t, ch)))
			if resp.StatusCode != tt.status {
				t.Fatalf("AUTHENTICATE: status %d %q; want %d", resp.StatusCode, b, tt.status)
			}
			checkNTLMOutcome(t, c, evPath, tt.status, tt.reason, tt.sub, b)
		})
	}
}

// checkNTLMOutcome checks the 200 body and the connection staying
// authenticated, or the 4625 event.
func checkNTLMOutcome(t *testing.T, c *conn, evPath string, status int, reason, sub, b string) {
	t.Helper()
	ev := eventsOf(t, evPath)
	if len(ev) != 1 {
		t.Fatalf("events %+v; want one", ev)
	}
	if status != 200 {
		if ev[0].ID != EventLogonFailure || ev[0].Reason != reason || ev[0].Package != "NTLM" || ev[0].Status != "0xC000006D" && reason != ReasonNTLMNoChallenge || ev[0].SubStatus != sub {
			t.Errorf("event %+v; want 4625 NTLM reason %s sub-status %s", ev[0], reason, sub)
		}
		return
	}
	if m := body(t, b); m["user"] != "alice@"+testRealm || m["mechanism"] != "NTLM" || m["backend"] != "server1" {
		t.Errorf("body %v; want alice by NTLM", m)
	}
	if ev[0].ID != EventLogonSuccess || ev[0].Package != "NTLM" || !strings.Contains(ev[0].Message, "Kerberos was not used") {
		t.Errorf("event %+v; want 4624 NTLM saying Kerberos was not used", ev[0])
	}
	if resp, _ := c.get("/"); resp.StatusCode != 200 || resp.Header.Get("Persistent-Auth") != "true" {
		t.Errorf("next request on the connection: %d; want 200 (NTLM is connection-bound)", resp.StatusCode)
	}
}

// TestCurlNTLM checks the handshake against a real client: curl --ntlm.
func TestCurlNTLM(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed: apt-get install curl")
	}
	f := newFixture(t)
	s, _ := newSite(t, "server1", f.siteKT, func(c *Config) { c.NTLMUsers = ntlmUsersFile(t) })
	addr := serve(t, s)
	tests := []struct{ name, creds, code, body string }{
		{"right password", "alice:alice-password", "200", `"mechanism":"NTLM"`},
		{"domain given", `KRBFARM\alice:alice-password`, "200", `"user":"alice@` + testRealm},
		{"wrong password", "alice:wrong", "401", "denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, "curl", "-s", "--ntlm", "-u", tt.creds, "-H", "Accept: application/json",
				"-w", "\n%{http_code}", "http://"+addr+"/").Output()
			if err != nil {
				t.Fatalf("curl: %v", err)
			}
			s := string(bytes.TrimSpace(out))
			i := strings.LastIndex(s, "\n")
			if body, code := s[:max(i, 0)], s[i+1:]; code != tt.code || !strings.Contains(body, tt.body) {
				t.Errorf("curl got %s %q; want %s with %q", code, body, tt.code, tt.body)
			}
		})
	}
}

func TestNTLMUsersFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), mode)
		os.Chmod(p, mode)
		return p
	}
	tests := []struct {
		name, path, err string
	}{
		{"good", write("good", "# c\n\nalice:a4f49c406510bdcab6824ee7c30fd852\nCORP\\bob:a4f49c406510bdcab6824ee7c30fd852\n", 0o600), ""},
		{"readable by others", write("open", "alice:a4f49c406510bdcab6824ee7c30fd852\n", 0o644), "chmod 600"},
		{"short hash", write("short", "alice:a4f4\n", 0o600), "line 1"},
		{"no colon", write("nocolon", "alice\n", 0o600), "line 1"},
		{"missing", filepath.Join(dir, "nope"), "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := loadNTLMUsers(tt.path)
			switch {
			case tt.err == "" && (err != nil || len(u["alice"]) != 16 || len(u["bob"]) != 16):
				t.Errorf("load: %v %v; want alice and bob", u, err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("load: %v; want error containing %q", err, tt.err)
			}
		})
	}
}
