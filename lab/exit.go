package lab

import (
	"go.uber.org/zap"

	"github.com/krbfarm/krbfarm/lab/proc"
)

// ChildExit describes a child of the farm (the KDC or a host) that ended
// when the lab had not asked it to. A farm reports each one to the
// function given WithChildExit.
type ChildExit = proc.Exit

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

// watchKDC reports the KDC's unexpected end.
func (f *Farm) watchKDC() {
	f.Realm.NotifyExit(func(ex ChildExit) { f.onExit(ex) })
}

// watchHost reports the host's unexpected end.
func (f *Farm) watchHost(h *Host) {
	h.onExit = func(ex ChildExit) {
		ex.Host = h.Name
		f.onExit(ex)
	}
}
