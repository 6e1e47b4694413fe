package backend

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestFailureEventUser: a 4625 for a refused Kerberos token names the
// ticket's client when the host could decrypt the ticket (skew, replay),
// and "-" when it could not (wrong key), as Windows does.
func TestFailureEventUser(t *testing.T) {
	f := newFixture(t)
	now := time.Now().UTC()
	replayed := mint(t, ticketSpec{kdc: f.kdc})
	tests := []struct {
		name, auth, reason, user string
		first                    bool // send auth once before (replay)
	}{
		{name: "skew", auth: mint(t, ticketSpec{kdc: f.kdc, ctime: now.Add(-10 * time.Minute)}), reason: ReasonSkew, user: "alice@" + testRealm},
		{name: "replay", auth: replayed, first: true, reason: ReasonRepeat, user: "alice@" + testRealm},
		{name: "wrong key", auth: mint(t, ticketSpec{kdc: f.wrongPW}), reason: ReasonModified, user: "-"},
		{name: "malformed", auth: "Negotiate !!!", reason: ReasonMalformed, user: "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.jsonl")
			s, _ := newSite(t, "server1", f.siteKT, func(c *Config) { c.EventLog = path })
			if tt.first {
				get(s, tt.auth)
			}
			if w := get(s, tt.auth); w.Code != 401 {
				t.Fatalf("status %d; want 401", w.Code)
			}
			fh, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			evs, _, _ := ReadEvents(fh, 100)
			last := evs[len(evs)-1]
			if last.ID != EventLogonFailure || last.Reason != tt.reason || last.User != tt.user {
				t.Errorf("last event %d %s user %q; want 4625 %s user %q", last.ID, last.Reason, last.User, tt.reason, tt.user)
			}
		})
	}
}
