package lab

import (
	"fmt"
	"syscall"

	"go.uber.org/zap"
)

// exitTailLines is how many lines of its log a ChildExit quotes.
const exitTailLines = 10

// ChildExit describes a child process of the farm (the KDC or a host) that
// ended when the lab had not asked it to: crashed, killed by someone, or
// failed. A farm reports each one to the function given WithChildExit.
type ChildExit struct {
	Name    string         // e.g. "backend server1", "krb5kdc"
	Host    string         // the host's name; "" for the KDC
	PID     int            // the process it was
	Status  string         // as the OS says: "signal: killed", "exit status 1"
	Code    int            // exit code, -1 if a signal ended it
	Signal  syscall.Signal // the signal that ended it, 0 if it exited
	LogPath string         // its log
	Tail    string         // the last lines of that log, indented
}

// KDC reports whether the child was the farm's KDC.
func (e ChildExit) KDC() bool { return e.Host == "" }

func (e ChildExit) String() string {
	return fmt.Sprintf("%s (pid %d) exited unexpectedly: %s; last lines of %s:\n%s", e.Name, e.PID, e.Status, e.LogPath, e.Tail)
}

// WithChildExit calls fn when the KDC or a host ends without the farm
// asking (the default logs it). fn runs on the goroutine that reaped the
// child, before the farm sees it gone: it must return quickly and must not
// call Close (hand the news to another goroutine for that).
func WithChildExit(fn func(ChildExit)) Option {
	return func(f *Farm) {
		if fn != nil {
			f.onExit = fn
		}
	}
}

// logChildExit is the default report of a child that died.
func (f *Farm) logChildExit(ex ChildExit) {
	f.log.Error("child exited unexpectedly", zap.String("child", ex.Name), zap.Int("pid", ex.PID),
		zap.String("status", ex.Status), zap.String("log", ex.LogPath))
}

// watchKDC reports the KDC's unexpected end, quoting kdc.log, where
// krb5kdc writes what it has to say (its own output holds little).
func (f *Farm) watchKDC() {
	f.Realm.kdc.notifyExit(func(ex ChildExit) {
		ex.LogPath, ex.Tail = f.Realm.LogPath, tailFile(f.Realm.LogPath, exitTailLines)
		f.onExit(ex)
	})
}

// watchHost reports the host's unexpected end.
func (f *Farm) watchHost(h *Host) {
	h.onExit = func(ex ChildExit) {
		ex.Host = h.Name
		f.onExit(ex)
	}
}
