package backend

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Windows event IDs the host writes.
const (
	EventLogonSuccess = 4624 // Security: an account was successfully logged on
	EventLogonFailure = 4625 // Security: an account failed to log on
	EventPoolIdentity = 5021 // WAS: the identity of the application pool is invalid
)

// Logon types, as in events 4624/4625.
const (
	LogonTypeBatch   = 4 // the app pool identity logging on as a batch job
	LogonTypeNetwork = 3 // a user authenticating to the site
)

// NTSTATUS values used in 4625 events.
const (
	StatusLogonFailure     uint32 = 0xC000006D // STATUS_LOGON_FAILURE
	StatusNoSuchUser       uint32 = 0xC0000064 // STATUS_NO_SUCH_USER
	StatusWrongPassword    uint32 = 0xC000006A // STATUS_WRONG_PASSWORD
	StatusTimeDifference   uint32 = 0xC0000133 // STATUS_TIME_DIFFERENCE_AT_DC: clock skew
	StatusLogonTypeDenied  uint32 = 0xC000015B // STATUS_LOGON_TYPE_NOT_GRANTED: no batch right
	StatusNTLMBlocked      uint32 = 0xC0000418 // STATUS_NTLM_BLOCKED
	StatusInvalidParameter uint32 = 0xC000000D // STATUS_INVALID_PARAMETER: a token that does not decode
	StatusTrustFailure     uint32 = 0xC000018D // STATUS_TRUSTED_RELATIONSHIP_FAILURE: ticket key not held
	StatusNoResources      uint32 = 0xC000009A // STATUS_INSUFFICIENT_RESOURCES: replay cache full
	StatusBadBindings      uint32 = 0xC000035B // STATUS_BAD_BINDINGS: Extended Protection refused the token
)

// Event is one Windows-like event, written as one JSON line. Fields that do
// not apply to an event ID are left empty.
type Event struct {
	Time      time.Time `json:"time"` // the host's clock (its offset included), as Windows logs it
	Host      string    `json:"host"`
	ID        int       `json:"id"`
	Source    string    `json:"source"` // "Security" or "WAS"
	User      string    `json:"user,omitempty"`
	Package   string    `json:"package,omitempty"` // Kerberos, NTLM or Negotiate
	LogonType int       `json:"logon_type,omitempty"`
	Remote    string    `json:"remote,omitempty"`
	// IPAddress and IPPort are Windows' IpAddress and IpPort, shown as
	// "Source Network Address" and "Source Port" in 4624/4625: the client's,
	// from a trusted PROXY header when a load balancer sends one.
	IPAddress string `json:"ip_address,omitempty"`
	IPPort    string `json:"ip_port,omitempty"`
	Status    string `json:"status,omitempty"`     // NTSTATUS, e.g. "0xC0000133"
	SubStatus string `json:"sub_status,omitempty"` // NTSTATUS, "0x0" when none
	Reason    string `json:"reason,omitempty"`     // Kerberos error name or another Reason constant
	Message   string `json:"message,omitempty"`
}

// ntstatus formats an NTSTATUS as Windows shows it in event 4625.
func ntstatus(v uint32) string { return fmt.Sprintf("0x%X", v) }

// failureStatus maps a refusal to the 4625 Status and Sub Status.
func failureStatus(ae *AuthError) (status, sub uint32) {
	switch ae.Name {
	case ReasonSkew:
		return StatusTimeDifference, 0
	case ReasonNTLM:
		return StatusNTLMBlocked, 0
	case ReasonNTLMNoUser:
		return StatusLogonFailure, StatusNoSuchUser
	case ReasonNTLMBadPassword:
		return StatusLogonFailure, StatusWrongPassword
	case ReasonMalformed:
		return StatusInvalidParameter, 0
	case ReasonReplayCacheFull:
		return StatusNoResources, 0
	case ReasonNoKey, ReasonBadKeyVer, ReasonNotUs:
		return StatusLogonFailure, StatusTrustFailure
	case ReasonBindingMissing, ReasonBindingMismatch, ReasonServiceBinding:
		return StatusBadBindings, 0
	}
	return StatusLogonFailure, 0
}

// eventLogMaxBytes bounds an event file: past it, the file is renamed to
// NAME.1 (replacing an older one) and a new one is started.
const eventLogMaxBytes = 32 << 20

// EventLog appends Events to a file, one JSON line each, rotating once at
// eventLogMaxBytes. A nil *EventLog discards events. Safe for concurrent use;
// Write after Close does nothing.
type EventLog struct {
	mu   sync.Mutex
	path string
	f    *os.File
	size int64
	max  int64
}

// OpenEventLog opens (creating, mode 0600) path for appending.
func OpenEventLog(path string) (*EventLog, error) {
	l := &EventLog{path: path, max: eventLogMaxBytes}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *EventLog) open() error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("event log: %w", err)
	}
	l.f, l.size = f, st.Size()
	return nil
}

// Write appends e as one line. Errors are returned, not logged.
func (l *EventLog) Write(e Event) error {
	if l == nil {
		return nil
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	if l.size+int64(len(b)) > l.max {
		if err := l.rotate(); err != nil {
			return err
		}
	}
	n, err := l.f.Write(b)
	l.size += int64(n)
	return err
}

func (l *EventLog) rotate() error {
	l.f.Close()
	l.f = nil
	if err := os.Rename(l.path, l.path+".1"); err != nil {
		return fmt.Errorf("event log rotate: %w", err)
	}
	return l.open()
}

// Close closes the file; it is safe to call more than once.
func (l *EventLog) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// ReadEvents decodes JSON lines from r, skipping lines that do not decode
// and lines over 64 KiB. It reads at most limit events
// (0 = no limit) and reports the bytes of whole lines consumed, so a
// follower can resume after them.
func ReadEvents(r io.Reader, limit int) ([]Event, int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var out []Event
	var used int64
	for limit == 0 || len(out) < limit {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			used += int64(len(line)) + skipLine(br)
			continue
		}
		if err != nil {
			return out, used, ignoreEOF(err) // a partial last line is left for later
		}
		used += int64(len(line))
		var e Event
		if json.Unmarshal(line, &e) == nil && e.ID != 0 {
			out = append(out, e)
		}
	}
	return out, used, nil
}

// skipLine discards the rest of an over-long line and returns its size.
func skipLine(br *bufio.Reader) int64 {
	var n int64
	for {
		b, err := br.ReadSlice('\n')
		n += int64(len(b))
		if err != bufio.ErrBufferFull {
			return n
		}
	}
}

func ignoreEOF(err error) error {
	if err == io.EOF {
		return nil
	}
	return err
}
