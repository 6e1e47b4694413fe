package backend

import (
	"os"
	"path/filepath"
	"testing"
)

// TestEventTail: appended events only, a partial line left for later, a
// rotated file read from its start, a missing file no events.
func TestEventTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server1.events.jsonl")
	tail := EventTail{Path: path}
	read := func(want ...int) {
		t.Helper()
		ev, err := tail.ReadNew(0)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, e := range ev {
			got = append(got, e.ID)
		}
		if len(got) != len(want) || (len(got) > 0 && got[len(got)-1] != want[len(want)-1]) {
			t.Fatalf("ReadNew: ids %v; want %v", got, want)
		}
	}
	appendTo := func(p, s string) {
		t.Helper()
		f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	read()
	appendTo(path, `{"id":4624}`+"\n"+`{"id":4625}`+"\n"+`{"id":46`)
	read(4624, 4625)
	appendTo(path, `72}`+"\n")
	read(4672)
	read()
	rotated := path + ".new"
	appendTo(rotated, `{"id":5021}`+"\n")
	if err := os.Rename(rotated, path); err != nil {
		t.Fatal(err)
	}
	read(5021)
}
