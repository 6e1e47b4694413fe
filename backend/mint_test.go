package backend

import (
	"encoding/base64"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Test realm and names. Tickets are minted in memory: the "KDC" is a
// keytab holding the key it encrypts with.
const (
	testRealm = "KRBFARM.TEST"
	testSPN   = "HTTP/sso.krbfarm.localhost"
	testPass  = "svc-web-password"
)

const aes256, rc4 = etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.RC4_HMAC

// newKeytab returns a keytab with one key per etype for spn at kvno,
// derived from password.
func newKeytab(t testing.TB, spn, password string, kvno uint8, etypes ...int32) *keytab.Keytab {
	t.Helper()
	kt := keytab.New()
	for _, et := range etypes {
		if err := kt.AddEntry(spn, testRealm, password, time.Now(), kvno, et); err != nil {
			t.Fatalf("AddEntry: %v", err)
		}
	}
	return kt
}

// writeKeytab writes kt to a file in a test temp dir and returns its path.
func writeKeytab(t testing.TB, kt *keytab.Keytab) string {
	t.Helper()
	b, err := kt.Marshal()
	if err != nil {
		t.Fatalf("keytab Marshal: %v", err)
	}
	p := filepath.Join(t.TempDir(), "http.keytab")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ticketSpec says how to mint one AP-REQ.
type ticketSpec struct {
	kdc   *keytab.Keytab // key the KDC encrypts the ticket with
	spn   string         // "" = testSPN
	kvno  int            // 0 = 2
	etype int32          // 0 = aes256
	start time.Time      // zero = now - 1m
	end   time.Time      // zero = start + 10h
	ctime time.Time      // authenticator time; zero = now
	raw   bool           // raw KRB5 GSS token instead of SPNEGO
	// mutual asks for mutual authentication as MIT and browsers do: AP
	// option mutual-required and GSS_C_MUTUAL_FLAG.
	mutual bool
	subkey int32                   // client subkey's etype; 0 = no subkey
	mechs  []asn1.ObjectIdentifier // SPNEGO mechTypes; nil = the KRB5 OID
	bnd    []byte                  // RFC 4121 Bnd (16 bytes, channel bindings' MD5); nil = none (zeros)
}

// minted is what the client keeps to check the host's AP-REP.
type minted struct {
	session types.EncryptionKey
	auth    types.Authenticator
}

func (s ticketSpec) withDefaults(now time.Time) ticketSpec {
	if s.spn == "" {
		s.spn = testSPN
	}
	if s.kvno == 0 {
		s.kvno = 2
	}
	if s.etype == 0 {
		s.etype = aes256
	}
	if s.start.IsZero() {
		s.start = now.Add(-time.Minute)
	}
	if s.end.IsZero() {
		s.end = s.start.Add(10 * time.Hour)
	}
	if s.ctime.IsZero() {
		s.ctime = now
	}
	return s
}

// mint returns an Authorization header value "Negotiate <base64>".
func mint(t testing.TB, spec ticketSpec) string {
	t.Helper()
	h, _ := mintKeep(t, spec)
	return h
}

// mintKeep is mint that also returns the session key and authenticator.
func mintKeep(t testing.TB, spec ticketSpec) (string, minted) {
	t.Helper()
	s := spec.withDefaults(time.Now().UTC())
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "alice")
	sname := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, s.spn)
	tkt, skey, err := messages.NewTicket(cname, testRealm, sname, testRealm, types.NewKrbFlags(),
		s.kdc, s.etype, s.kvno, s.start, s.start, s.end, s.end)
	if err != nil {
		t.Fatalf("NewTicket: %v", err)
	}
	auth := authenticator(cname, s.ctime)
	if s.mutual {
		binary.LittleEndian.PutUint32(auth.Cksum.Checksum[20:], 0x32) // mutual|integ|conf
	}
	copy(auth.Cksum.Checksum[4:20], s.bnd)
	if s.subkey != 0 {
		et, err := crypto.GetEtype(s.subkey)
		if err != nil {
			t.Fatal(err)
		}
		if err := auth.GenerateSeqNumberAndSubKey(s.subkey, et.GetKeyByteSize()); err != nil {
			t.Fatalf("subkey: %v", err)
		}
	}
	req, err := messages.NewAPReq(tkt, skey, auth)
	if err != nil {
		t.Fatalf("NewAPReq: %v", err)
	}
	if s.mutual {
		types.SetFlag(&req.APOptions, flags.APOptionMutualRequired)
	}
	tok := gssToken(t, &req, s.raw, s.mechs)
	return "Negotiate " + base64.StdEncoding.EncodeToString(tok), minted{session: skey, auth: auth}
}

func authenticator(cname types.PrincipalName, at time.Time) types.Authenticator {
	cksum := make([]byte, 24) // RFC 4121 4.1.1: Lgth 16, no bindings, flags
	binary.LittleEndian.PutUint32(cksum[:4], 16)
	binary.LittleEndian.PutUint32(cksum[20:], 0x30) // integ|conf
	at = at.UTC()
	return types.Authenticator{
		AVNO:   5,
		CRealm: testRealm,
		CName:  cname,
		Cksum:  types.Checksum{CksumType: chksumtype.GSSAPI, Checksum: cksum},
		CTime:  at.Truncate(time.Second),
		Cusec:  at.Nanosecond() / 1000,
	}
}

// gssToken wraps an AP-REQ in a KRB5 GSS token, and that in SPNEGO unless raw.
// mechs are the SPNEGO mechTypes (nil = the KRB5 OID).
func gssToken(t testing.TB, req *messages.APReq, raw bool, mechs []asn1.ObjectIdentifier) []byte {
	t.Helper()
	ab, err := req.Marshal()
	if err != nil {
		t.Fatalf("APReq Marshal: %v", err)
	}
	oid, _ := asn1.Marshal(oidKRB5())
	krb5 := asn1tools.AddASNAppTag(append(append(oid, 0x01, 0x00), ab...), 0)
	if raw {
		return krb5
	}
	if mechs == nil {
		mechs = []asn1.ObjectIdentifier{oidKRB5()}
	}
	return spnegoInit(t, mechs, krb5)
}

func spnegoInit(t testing.TB, mechs []asn1.ObjectIdentifier, mech []byte) []byte {
	t.Helper()
	st := spnego.SPNEGOToken{Init: true, NegTokenInit: spnego.NegTokenInit{MechTypes: mechs, MechTokenBytes: mech}}
	b, err := st.Marshal()
	if err != nil {
		t.Fatalf("SPNEGO Marshal: %v", err)
	}
	return b
}

// ntlmType1 is an NTLM NEGOTIATE_MESSAGE, as a browser falls back to.
func ntlmType1() []byte {
	b, _ := base64.StdEncoding.DecodeString("TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==")
	return b
}
