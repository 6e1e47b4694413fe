package backend

import (
	"io"
	"os"
)

// EventTail follows one events file (see ReadEvents) as it grows, as
// Get-WinEvent -Wait follows a log: each ReadNew returns the events
// appended since the last. A missing file has no events yet; a replaced
// (rotated) or truncated one is read again from its start. The zero value
// with Path set is ready to use; not safe for concurrent use.
type EventTail struct {
	Path string
	off  int64       // bytes of whole lines read so far
	seen os.FileInfo // the file read last, to notice a rotation
}

// ReadNew returns at most limit (0 = all) events appended since the last
// call; a partial last line is left for the next.
func (t *EventTail) ReadNew(limit int) ([]Event, error) {
	f, err := os.Open(t.Path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if t.seen != nil && (!os.SameFile(t.seen, st) || st.Size() < t.off) {
		t.off = 0
	}
	t.seen = st
	if _, err := f.Seek(t.off, io.SeekStart); err != nil {
		return nil, err
	}
	ev, used, err := ReadEvents(f, limit)
	t.off += used
	return ev, err
}
