package krbhttp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
	"github.com/krbfarm/krbfarm/lab/internal/fsutil"
)

// An MIT credential cache file (FILE: ccache, format version 4, the one
// kinit writes): gokrb5 reads them but cannot write them. The lab writes
// one so that MIT's programs (curl --negotiate, klist, Chromium through
// GSSAPI) use tickets only the lab can obtain, such as a ticket carrying a
// user's group SIDs: GSSAPI takes a service ticket from the cache before
// asking the KDC for one.
//
// Format: https://web.mit.edu/kerberos/krb5-latest/doc/formats/ccache_file_format.html

const ccacheVersion4 = 0x0504

// ccacheCred is one credential of a cache: a ticket and what the KDC said
// about it in the encrypted part of its reply.
type ccacheCred struct {
	client      types.PrincipalName
	clientRealm string
	server      types.PrincipalName
	serverRealm string
	key         types.EncryptionKey
	authTime    time.Time
	startTime   time.Time
	endTime     time.Time
	renewTill   time.Time
	flags       asn1.BitString
	ticket      []byte // the Ticket, DER
}

// credFromReply is the credential a KDC reply (AS or TGS) gave client.
func credFromReply(client types.PrincipalName, clientRealm string, tkt messages.Ticket, part messages.EncKDCRepPart) (ccacheCred, error) {
	der, err := tkt.Marshal()
	if err != nil {
		return ccacheCred{}, fmt.Errorf("marshal ticket for %s: %w", tkt.SName.PrincipalNameString(), err)
	}
	return ccacheCred{client: client, clientRealm: clientRealm, server: part.SName, serverRealm: part.SRealm,
		key: part.Key, authTime: part.AuthTime, startTime: part.StartTime, endTime: part.EndTime,
		renewTill: part.RenewTill, flags: part.Flags, ticket: der}, nil
}

// ccacheWriter builds a cache in memory, big-endian as version 4 says.
type ccacheWriter struct{ bytes.Buffer }

func (w *ccacheWriter) u8(v uint8)   { w.WriteByte(v) }
func (w *ccacheWriter) u16(v uint16) { w.Write(binary.BigEndian.AppendUint16(nil, v)) }
func (w *ccacheWriter) u32(v uint32) { w.Write(binary.BigEndian.AppendUint32(nil, v)) }

func (w *ccacheWriter) data(b []byte) {
	w.u32(uint32(len(b)))
	w.Write(b)
}

func (w *ccacheWriter) principal(p types.PrincipalName, realm string) {
	w.u32(uint32(p.NameType))
	w.u32(uint32(len(p.NameString)))
	w.data([]byte(realm))
	for _, c := range p.NameString {
		w.data([]byte(c))
	}
}

// unixTime is a ccache time: seconds since 1970, 0 for unset.
func unixTime(t time.Time) uint32 {
	if t.IsZero() {
		return 0
	}
	return uint32(t.Unix())
}

// ticketFlags is the KDC's flags bit string as the uint32 MIT stores
// (bit 0, reserved, is the most significant bit).
func ticketFlags(f asn1.BitString) uint32 {
	var b [4]byte
	copy(b[:], f.Bytes)
	return binary.BigEndian.Uint32(b[:])
}

func (w *ccacheWriter) cred(c ccacheCred) {
	w.principal(c.client, c.clientRealm)
	w.principal(c.server, c.serverRealm)
	w.u16(uint16(c.key.KeyType))
	w.data(c.key.KeyValue)
	for _, t := range []time.Time{c.authTime, c.startTime, c.endTime, c.renewTill} {
		w.u32(unixTime(t))
	}
	w.u8(0) // is_skey
	w.u32(ticketFlags(c.flags))
	w.u32(0) // addresses
	w.u32(0) // authdata
	w.data(c.ticket)
	w.data(nil) // second ticket
}

// encodeCCache is a version 4 cache for principal holding creds.
func encodeCCache(principal types.PrincipalName, realm string, creds []ccacheCred) []byte {
	var w ccacheWriter
	w.u16(ccacheVersion4)
	w.u16(0) // no header tags (no KDC clock offset)
	w.principal(principal, realm)
	for _, c := range creds {
		w.cred(c)
	}
	return w.Bytes()
}

// writeCCache replaces the cache at path ("FILE:" prefix allowed) with
// one holding creds, mode 0600, atomically: a reader never sees half.
func writeCCache(path string, principal types.PrincipalName, realm string, creds []ccacheCred) error {
	path = strings.TrimPrefix(path, "FILE:")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("credential cache %s: %w", path, err)
	}
	if err := fsutil.WriteAtomic(path, encodeCCache(principal, realm, creds), 0o600); err != nil {
		return fmt.Errorf("credential cache %s: %w", path, err)
	}
	return nil
}
