package krbhttp

import (
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// MutualAuthError is a 200 whose WWW-Authenticate does not prove the host
// holds the service key: no AP-REP, or one that does not decrypt with the
// session key or does not echo the authenticator's time. A browser or
// python-requests-kerberos refuses such an answer.
type MutualAuthError struct {
	Backend string // X-Backend of the answer
	Reason  string
}

func (e *MutualAuthError) Error() string {
	return fmt.Sprintf("mutual authentication with %s failed: %s", cmp.Or(e.Backend, "the host"), e.Reason)
}

// mutualToken is a sent AP-REQ and what the host's AP-REP must echo.
type mutualToken struct {
	header  string // "Negotiate <base64 NegTokenInit>"
	session types.EncryptionKey
	ctime   time.Time
	cusec   int
}

// newMutualToken builds a SPNEGO token for spn that asks for mutual
// authentication as browsers, curl and MIT's gss_init_sec_context do:
// AP option mutual-required and GSS_C_MUTUAL_FLAG (gokrb5's own SPNEGO
// client sets neither, so a host owes it no AP-REP), with bnd in the GSS
// checksum's Bnd field (all zero: no channel bindings).
func (c *Client) newMutualToken(spn string, bnd [16]byte) (*mutualToken, error) {
	tkt, key, err := c.krb.GetServiceTicket(spn)
	if err != nil {
		return nil, err
	}
	gssFlags := []int{gssapi.ContextFlagInteg, gssapi.ContextFlagConf, gssapi.ContextFlagMutual}
	kt, err := spnego.NewKRB5TokenAPREQ(c.krb, tkt, key, gssFlags, []int{flags.APOptionMutualRequired})
	if err != nil {
		return nil, err
	}
	if bnd != [16]byte{} {
		if kt.APReq, err = c.boundAPReq(tkt, key, gssFlags, bnd); err != nil {
			return nil, err
		}
	}
	mech, err := kt.Marshal()
	if err != nil {
		return nil, err
	}
	st := spnego.SPNEGOToken{Init: true, NegTokenInit: spnego.NegTokenInit{
		MechTypes: []asn1.ObjectIdentifier{gssapi.OIDKRB5.OID()}, MechTokenBytes: mech}}
	b, err := st.Marshal()
	if err != nil {
		return nil, err
	}
	// The authenticator as sent (ctime to the second on the wire).
	if err := kt.APReq.DecryptAuthenticator(key); err != nil {
		return nil, err
	}
	a := kt.APReq.Authenticator
	return &mutualToken{header: "Negotiate " + base64.StdEncoding.EncodeToString(b), session: key, ctime: a.CTime, cusec: a.Cusec}, nil
}

// boundAPReq is gokrb5's AP-REQ (mutual-required) with its authenticator's
// 0x8003 checksum carrying bnd: RFC 4121 §4.1.1, Lgth 16, Bnd, Flags.
func (c *Client) boundAPReq(tkt messages.Ticket, key types.EncryptionKey, gssFlags []int, bnd [16]byte) (messages.APReq, error) {
	auth, err := types.NewAuthenticator(c.krb.Credentials.Domain(), c.krb.Credentials.CName())
	if err != nil {
		return messages.APReq{}, err
	}
	sum := make([]byte, 24)
	binary.LittleEndian.PutUint32(sum[:4], 16)
	copy(sum[4:20], bnd[:])
	var f uint32
	for _, g := range gssFlags {
		f |= uint32(g)
	}
	binary.LittleEndian.PutUint32(sum[20:], f)
	auth.Cksum = types.Checksum{CksumType: chksumtype.GSSAPI, Checksum: sum}
	req, err := messages.NewAPReq(tkt, key, auth)
	if err != nil {
		return messages.APReq{}, err
	}
	types.SetFlag(&req.APOptions, flags.APOptionMutualRequired)
	return req, nil
}

// check verifies the host's answer to the token on a 200, as MIT's
// krb5_rd_rep does: a SPNEGO accept-completed carrying an AP-REP that
// decrypts with the session key and echoes ctime and cusec.
func (m *mutualToken) check(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	if err := m.checkHeader(resp.Header.Values("WWW-Authenticate")); err != nil {
		return &MutualAuthError{Backend: resp.Header.Get("X-Backend"), Reason: err.Error()}
	}
	return nil
}

func (m *mutualToken) checkHeader(hdrs []string) error {
	if len(hdrs) != 1 {
		return fmt.Errorf("the 200 carries %d WWW-Authenticate headers; want one Negotiate <AP-REP>", len(hdrs))
	}
	scheme, b64, _ := strings.Cut(hdrs[0], " ")
	tok, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if !strings.EqualFold(scheme, "Negotiate") || err != nil || len(tok) == 0 {
		return fmt.Errorf("WWW-Authenticate %.40q is not Negotiate <base64 token>", hdrs[0])
	}
	var resp spnego.NegTokenResp
	if err := resp.Unmarshal(tok); err != nil {
		return fmt.Errorf("reply is not a SPNEGO NegTokenResp: %w", err)
	}
	if resp.State() != spnego.NegStateAcceptCompleted || !resp.SupportedMech.Equal(gssapi.OIDKRB5.OID()) {
		return fmt.Errorf("NegTokenResp negState %d supportedMech %v; want accept-completed %v", resp.NegState, resp.SupportedMech, gssapi.OIDKRB5.OID())
	}
	return m.checkAPRep(resp.ResponseToken)
}

func (m *mutualToken) checkAPRep(tok []byte) error {
	if len(tok) == 0 {
		return errors.New("NegTokenResp carries no AP-REP")
	}
	var kt spnego.KRB5Token
	if err := kt.Unmarshal(tok); err != nil || !kt.IsAPRep() {
		return fmt.Errorf("responseToken is not a KRB5 AP-REP token (%v)", err)
	}
	plain, err := crypto.DecryptEncPart(kt.APRep.EncPart, m.session, keyusage.AP_REP_ENCPART)
	if err != nil {
		return fmt.Errorf("AP-REP does not decrypt with the session key: %w", err)
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(plain); err != nil {
		return fmt.Errorf("AP-REP encrypted part: %w", err)
	}
	if !part.CTime.Equal(m.ctime) || part.Cusec != m.cusec {
		return fmt.Errorf("AP-REP time %s.%06d is not the authenticator's %s.%06d",
			part.CTime.UTC().Format(time.RFC3339), part.Cusec, m.ctime.UTC().Format(time.RFC3339), m.cusec)
	}
	return nil
}
