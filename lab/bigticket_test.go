package lab_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/spnego"

	"github.com/krbfarm/krbfarm/backend"
	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/krbhttp"
	"github.com/krbfarm/krbfarm/lab/labtest"
)

// TestBigTicketFromRealKDC asks the real MIT KDC for service tickets
// carrying the SIDs of n groups (TGS-REQ enc-authorization-data): the
// ticket comes back with all of them, its size grows with n, a host's
// keytab decrypts it, and a header over http.sys's 16384 bytes gets 400.
func TestBigTicketFromRealKDC(t *testing.T) {
	farm := labtest.Start(t, lab.Config{})
	u := farm.Config.Users[0]
	kt, err := keytab.Load(farm.Hosts[0].Keytab)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		groups     int
		minHeader  int // Authorization header at least
		maxHeader  int // and at most
		wantStatus int
	}{
		{0, 500, 4000, 200},
		{100, 4000, 8000, 200},
		{600, 24000, 30000, 400},
	} {
		t.Run(fmt.Sprintf("%d-groups", tc.groups), func(t *testing.T) {
			c, err := krbhttp.New(krbhttp.Config{Krb5Conf: farm.Realm.Krb5Conf, User: u.Name, Password: u.Password,
				SPN: farm.Config.SPN(), CAFile: farm.CAFile, DialAddr: farm.LBAddr(), Groups: tc.groups})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			tok, err := c.Token()
			if err != nil {
				t.Fatal(err)
			}
			header := len("Authorization: ") + len(tok)
			groups, size := ticketGroups(t, tok, kt)
			t.Logf("%d groups: ticket %d bytes, Authorization header %d bytes", tc.groups, size, header)
			if groups != tc.groups {
				t.Errorf("ticket carries %d group SIDs; want %d", groups, tc.groups)
			}
			if header < tc.minHeader || header > tc.maxHeader {
				t.Errorf("header %d bytes; want %d..%d", header, tc.minHeader, tc.maxHeader)
			}
			v := backend.NewVerifier(backend.Config{Name: "t", Realm: farm.Config.Realm, ReplayCacheSize: 4}, kt, nil)
			if id, err := v.Verify(tok, "test"); err != nil || !strings.HasPrefix(id.User, u.Name+"@") {
				t.Errorf("verify with the host keytab: %+v, %v; want %s", id, err, u.Name)
			}
			res, err := c.Get(context.Background(), farm.URL)
			if err != nil || res.Status != tc.wantStatus {
				t.Errorf("GET through the LB: %+v, %v; want %d", res, err, tc.wantStatus)
			}
		})
	}
}

// ticketGroups decrypts the ticket inside a Negotiate header with kt and
// returns how many group SIDs it carries and its encoded size.
func ticketGroups(t *testing.T, header string, kt *keytab.Keytab) (int, int) {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(header, "Negotiate "))
	if err != nil {
		t.Fatal(err)
	}
	var tok spnego.SPNEGOToken
	if err := tok.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	var k5 spnego.KRB5Token
	if err := k5.Unmarshal(tok.NegTokenInit.MechTokenBytes); err != nil {
		t.Fatal(err)
	}
	tkt := k5.APReq.Ticket
	raw, err := tkt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := tkt.DecryptEncPart(kt, nil); err != nil {
		t.Fatal(err)
	}
	return krbhttp.GroupsInTicket(tkt.DecryptedEncPart.AuthorizationData), len(raw)
}
