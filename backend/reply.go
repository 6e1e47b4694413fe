package backend

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// The host's reply to an accepted token, as IIS and MIT's
// gss_accept_sec_context (under mod_auth_gssapi) send it in
// "WWW-Authenticate: Negotiate <token>" on the 200:
//
//   - SPNEGO in: always a NegTokenResp{accept-completed, supportedMech},
//     with responseToken = the GSS-framed AP-REP when the client asked for
//     mutual authentication;
//   - raw KRB5 in: the bare GSS-framed AP-REP when the client asked for
//     mutual authentication, else nothing.
//
// "Asked" is MIT's rule (accept_sec_context.c): GSS_C_MUTUAL_FLAG in the
// authenticator's GSS checksum, or, as MIT also checks on its error path,
// the AP option mutual-required. Browsers, curl, MIT and python clients
// set both; gokrb5's own SPNEGO client sets neither.

// tokIDAPRep is the RFC 4121 §4.1 token ID of a KRB5 AP-REP token.
var tokIDAPRep = []byte{0x02, 0x00}

// replyToken returns the GSS output token for an accepted input, nil when
// the client wants none.
func (in *gssInput) replyToken() ([]byte, error) {
	var krb5 []byte
	if wantsMutual(in.req) {
		rep, err := newAPRep(in.req)
		if err != nil {
			return nil, err
		}
		krb5 = gssFrameKRB5(tokIDAPRep, rep)
	}
	if !in.spnego {
		return krb5, nil
	}
	mech, err := oidDER(in.mech)
	if err != nil {
		return nil, fmt.Errorf("marshal NegTokenResp: %w", err)
	}
	return marshalNegTokenResp(int64(spnego.NegStateAcceptCompleted), mech, krb5), nil
}

// wantsMutual reports whether the AP-REQ asks for an AP-REP.
func wantsMutual(req *messages.APReq) bool {
	return types.IsFlagSet(&req.APOptions, flags.APOptionMutualRequired) ||
		gssFlags(&req.Authenticator)&gssapi.ContextFlagMutual != 0
}

// gssFlags are the GSS context flags in an authenticator's RFC 4121
// §4.1.1 checksum (0 when it carries none).
func gssFlags(a *types.Authenticator) uint32 {
	c := a.Cksum.Checksum
	if a.Cksum.CksumType != chksumtype.GSSAPI || len(c) < 24 {
		return 0
	}
	return binary.LittleEndian.Uint32(c[20:24])
}

// newAPRep builds the RFC 4120 §5.5.2 KRB_AP_REP for req (whose ticket and
// authenticator are decrypted): ctime and cusec copied from the
// authenticator, a sequence number and, as MIT does, an acceptor subkey,
// encrypted in the ticket's session key with key usage 12.
func newAPRep(req *messages.APReq) ([]byte, error) {
	a := &req.Authenticator
	session := req.Ticket.DecryptedEncPart.Key
	seq, err := seqNumber()
	if err != nil {
		return nil, err
	}
	subkey, err := acceptorSubkey(a.SubKey, session)
	if err != nil {
		return nil, err
	}
	part := marshalEncAPRepPart(a.CTime, a.Cusec, subkey, seq)
	enc, err := encryptedData(part, session, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, fmt.Errorf("encrypt EncAPRepPart: %w", err)
	}
	return marshalAPRep(enc), nil
}

// seqNumber is the acceptor's initial sequence number: random, kept in
// 0..2^30-1 as MIT's krb5_generate_seq_number does, for peers that read
// it as signed.
func seqNumber() (int64, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("sequence number: %w", err)
	}
	return int64(binary.BigEndian.Uint32(b[:]) & 0x3fffffff), nil
}

// acceptorSubkey follows MIT: with a "newer" enctype (RFC 4121's CFX: AES
// and later) in use — the client's subkey, else the session key — the
// acceptor sends a fresh subkey of the session key's enctype; with DES,
// 3DES or RC4 it sends none (zero key: the optional field is omitted).
func acceptorSubkey(client, session types.EncryptionKey) (types.EncryptionKey, error) {
	inUse := session.KeyType
	if client.KeyType != 0 {
		inUse = client.KeyType
	}
	switch inUse {
	case etypeID.DES_CBC_CRC, etypeID.DES_CBC_MD4, etypeID.DES_CBC_MD5, etypeID.DES3_CBC_SHA1_KD,
		etypeID.RC4_HMAC, etypeID.RC4_HMAC_EXP:
		return types.EncryptionKey{}, nil
	}
	et, err := crypto.GetEtype(session.KeyType)
	if err != nil {
		return types.EncryptionKey{}, fmt.Errorf("acceptor subkey: %w", err)
	}
	k, err := types.GenerateEncryptionKey(et)
	if err != nil {
		return types.EncryptionKey{}, fmt.Errorf("acceptor subkey: %w", err)
	}
	return k, nil
}
