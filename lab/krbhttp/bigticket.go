package krbhttp

import (
	"encoding/binary"
	"fmt"

	"github.com/jcmturner/gofork/encoding/asn1"
	krbclient "github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/adtype"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/iana/patype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// A Windows DC puts a user's group SIDs in the ticket's PAC, so a user in
// hundreds of groups gets a ticket tens of kilobytes long. MIT krb5kdc puts
// no group list in its PAC, but it does what RFC 4120 says with a TGS-REQ's
// enc-authorization-data: it decrypts it (TGS session key, key usage 4),
// drops KDC-issued types (AD-KDC-ISSUED, AD-WIN2K-PAC, AD-SIGNTICKET, also
// inside AD-IF-RELEVANT), refuses AD-MANDATORY-FOR-KDC, and copies the rest
// into the service ticket it issues (src/kdc/kdc_authdata.c,
// copy_request_authdata). The lab's users in many groups ask for their
// group SIDs that way: the ticket the real KDC issues, encrypted in the
// service's key, is as big as a Windows one.

// ADTypeGroupSIDs is the ad-type carrying the group SIDs: negative values
// are for local use (RFC 4120 5.2.6), wrapped in AD-IF-RELEVANT so a
// service that does not know it ignores it, as hosts ignore PAC buffers
// they do not use.
const ADTypeGroupSIDs int32 = -128

// groupSIDBytes is one group's share of the ticket: a domain SID with its
// RID (28 bytes) and the SE_GROUP attributes (4), as a PAC's ExtraSids.
const groupSIDBytes = 32

// groupSIDs is the binary list of n group SIDs S-1-5-21-1004-2005-3006-RID
// with attributes SE_GROUP_MANDATORY|ENABLED_BY_DEFAULT|ENABLED (7).
func groupSIDs(n int) []byte {
	b := make([]byte, 0, 4+n*groupSIDBytes)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	for i := 0; i < n; i++ {
		b = append(b, 1, 5, 0, 0, 0, 0, 0, 5) // revision 1, 5 sub-authorities, NT authority
		for _, sub := range []uint32{21, 1004, 2005, 3006, uint32(10000 + i)} {
			b = binary.LittleEndian.AppendUint32(b, sub)
		}
		b = binary.LittleEndian.AppendUint32(b, 7)
	}
	return b
}

// groupAuthData is the AuthorizationData a client in n groups sends:
// AD-IF-RELEVANT { ADTypeGroupSIDs: the SIDs }.
func groupAuthData(n int) ([]byte, error) {
	inner, err := asn1.Marshal(types.AuthorizationData{{ADType: ADTypeGroupSIDs, ADData: groupSIDs(n)}})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(types.AuthorizationData{{ADType: adtype.ADIfRelevant, ADData: inner}})
}

// GroupsInTicket returns how many group SIDs a service ticket carries (0:
// none), from its decrypted authorization data.
func GroupsInTicket(ad types.AuthorizationData) int {
	for _, e := range ad {
		if e.ADType != adtype.ADIfRelevant {
			continue
		}
		var in types.AuthorizationData
		if in.Unmarshal(e.ADData) != nil {
			continue
		}
		for _, x := range in {
			if x.ADType == ADTypeGroupSIDs && len(x.ADData) >= 4 {
				return int(binary.LittleEndian.Uint32(x.ADData))
			}
		}
	}
	return 0
}

// bigTicket logs in afresh (an AS exchange) and asks the KDC for a ticket
// to spn carrying the SIDs of n groups; the ticket lands in cl's cache,
// where SPNEGO takes it from.
func bigTicket(cl *krbclient.Client, spn string, n int) (messages.Ticket, error) {
	asRep, err := loginTGT(cl)
	if err != nil {
		return messages.Ticket{}, err
	}
	rep, err := groupsTicket(cl, asRep, spn, n)
	return rep.Ticket, err
}

// loginTGT is an AS exchange for cl's user: a TGT and its session key.
func loginTGT(cl *krbclient.Client) (messages.ASRep, error) {
	realm := cl.Credentials.Realm()
	asReq, err := messages.NewASReqForTGT(realm, cl.Config, cl.Credentials.CName())
	if err != nil {
		return messages.ASRep{}, err
	}
	return cl.ASExchange(realm, asReq, 0)
}

// groupsTicket asks the KDC, with the TGT of asRep, for a ticket to spn
// carrying the SIDs of n groups (none when n is 0); the ticket also lands
// in cl's cache.
func groupsTicket(cl *krbclient.Client, asRep messages.ASRep, spn string, n int) (messages.TGSRep, error) {
	realm := cl.Credentials.Realm()
	tgt, key := asRep.Ticket, asRep.DecryptedEncPart.Key
	sname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, spn)
	req, err := messages.NewTGSReq(cl.Credentials.CName(), realm, cl.Config, tgt, key, sname, false)
	if err != nil {
		return messages.TGSRep{}, err
	}
	if n > 0 {
		ad, err := groupAuthData(n)
		if err != nil {
			return messages.TGSRep{}, err
		}
		if req.ReqBody.EncAuthData, err = crypto.GetEncryptedData(ad, key, keyusage.TGS_REQ_KDC_REQ_BODY_AUTHDATA_SESSION_KEY, 0); err != nil {
			return messages.TGSRep{}, err
		}
		if err := signTGSReq(&req, tgt, key); err != nil {
			return messages.TGSRep{}, err
		}
	}
	_, rep, err := cl.TGSExchange(req, realm, tgt, key, 0)
	return rep, err
}

// signTGSReq (re)makes the PA-TGS-REQ of req: an AP-REQ with the TGT whose
// authenticator checksums the request body, which now includes the
// authorization data (as gokrb5's NewTGSReq does for a body without).
func signTGSReq(req *messages.TGSReq, tgt messages.Ticket, key types.EncryptionKey) error {
	body, err := req.ReqBody.Marshal()
	if err != nil {
		return fmt.Errorf("marshal TGS-REQ body: %w", err)
	}
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return err
	}
	sum, err := et.GetChecksumHash(key.KeyValue, body, keyusage.TGS_REQ_PA_TGS_REQ_AP_REQ_AUTHENTICATOR_CHKSUM)
	if err != nil {
		return fmt.Errorf("checksum TGS-REQ body: %w", err)
	}
	auth, err := types.NewAuthenticator(tgt.Realm, req.ReqBody.CName)
	if err != nil {
		return err
	}
	auth.Cksum = types.Checksum{CksumType: et.GetHashID(), Checksum: sum}
	ap, err := messages.NewAPReq(tgt, key, auth)
	if err != nil {
		return err
	}
	apb, err := ap.Marshal()
	if err != nil {
		return fmt.Errorf("marshal PA-TGS-REQ: %w", err)
	}
	req.PAData = types.PADataSequence{{PADataType: patype.PA_TGS_REQ, PADataValue: apb}}
	return nil
}
