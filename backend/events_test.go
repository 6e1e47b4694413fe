package backend

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReadEvents(t *testing.T) {
	good := `{"time":"2026-01-01T00:00:00Z","host":"server1","id":4624,"source":"Security","user":"alice@R","package":"Kerberos"}` + "\n"
	tests := []struct {
		name  string
		in    string
		limit int
		n     int
		used  int
	}{
		{"one", good, 0, 1, len(good)},
		{"partial last line left", good + `{"id":46`, 0, 1, len(good)},
		{"garbage and blank skipped", "garbage\n\n" + good, 0, 1, len(good) + 9},
		{"over-long line skipped", strings.Repeat("x", 100<<10) + "\n" + good, 0, 1, 100<<10 + 1 + len(good)},
		{"limit", good + good + good, 2, 2, 2 * len(good)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, used, err := ReadEvents(strings.NewReader(tt.in), tt.limit)
			if err != nil || len(ev) != tt.n || used != int64(tt.used) {
				t.Errorf("got %d events, used %d, %v; want %d, %d", len(ev), used, err, tt.n, tt.used)
			}
		})
	}
}

func TestEventLogRotates(t *testing.T) {
	p := filepath.Join(t.TempDir(), "e.jsonl")
	l, err := OpenEventLog(p)
	if err != nil {
		t.Fatal(err)
	}
	l.max = 1000
	for i := range 20 {
		if err := l.Write(Event{Time: time.Now(), Host: "h", ID: EventLogonSuccess, User: strings.Repeat("u", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		if err := l.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
	if err := l.Write(Event{ID: 1}); err != nil {
		t.Errorf("Write after Close: %v; want nil", err)
	}
	for _, name := range []string{p, p + ".1"} {
		st, err := os.Stat(name)
		if err != nil || st.Size() > 1000 || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v; want at most 1000 bytes, mode 0600", name, st, err)
		}
	}
	var nilLog *EventLog
	if nilLog.Write(Event{ID: 1}) != nil || nilLog.Close() != nil {
		t.Error("a nil *EventLog must discard")
	}
}

func BenchmarkEventLogWrite(b *testing.B) {
	l, err := OpenEventLog(filepath.Join(b.TempDir(), "e.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	e := Event{Time: time.Now(), Host: "server1", ID: EventLogonSuccess, Source: "Security", User: "alice@KRBFARM.LOCALHOST",
		Package: "Kerberos", LogonType: LogonTypeNetwork, Remote: "127.0.0.1:54321"}
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Write(e); err != nil {
			b.Fatal(err)
		}
	}
}
