package main

import (
	"bytes"
	"io"
	"testing"

	"github.com/krbfarm/krbfarm/backend"
)

// FuzzEvents feeds arbitrary host event files to what `krbfarm events`
// runs on them: backend.ReadEvents, then the table and JSON printers.
// Nothing may panic; the reader must not claim more bytes than it was
// given, nor return more events than asked or an event without an ID.
func FuzzEvents(f *testing.F) {
	f.Add([]byte(`{"time":"2026-01-02T03:04:05Z","host":"server1","id":4624,"source":"Security","user":"alice@R","package":"Kerberos","logon_type":3,"remote":"127.0.0.2:5000","ip_address":"127.0.0.2","ip_port":"5000"}`+"\n"), uint8(0))
	f.Add([]byte(`{"id":4625,"status":"0xC000006D","sub_status":"0x0","reason":"KRB_AP_ERR_MODIFIED"}`+"\n"+`{"id":5021,"source":"WAS","message":"m"}`+"\npartial"), uint8(1))
	f.Add([]byte("\n\n{}\n{\"id\":0}\nnot json\n{\"id\":\"x\"}\n"), uint8(3))
	f.Add(bytes.Repeat([]byte("a"), 70<<10), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, limit uint8) {
		evs, used, err := backend.ReadEvents(bytes.NewReader(data), int(limit))
		if err != nil {
			t.Fatalf("ReadEvents: %v (a bytes.Reader never fails)", err)
		}
		if used < 0 || used > int64(len(data)) {
			t.Fatalf("used %d of %d bytes", used, len(data))
		}
		if limit > 0 && len(evs) > int(limit) {
			t.Fatalf("%d events; limit %d", len(evs), limit)
		}
		for _, asJSON := range []bool{false, true} {
			p := eventPrinter{out: io.Discard, json: asJSON}
			for _, e := range evs {
				if e.ID == 0 {
					t.Fatalf("event without an ID: %+v", e)
				}
				p.print(e)
			}
		}
	})
}
