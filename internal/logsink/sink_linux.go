//go:build linux

package logsink

import (
	"os"
	"syscall"
	"unsafe"

	"go.uber.org/zap"
)

// stderrSink is stderr for the loggers: written with a raw write(2)
// when it is a regular file, else as os.Stderr.
//
// Why: a write through os.Stderr enters the runtime's entersyscall, and
// when the thread is descheduled inside it (the balancer sharing its
// CPU), the runtime's monitor takes the P away, starts another thread
// and, having found work, keeps polling every 20 µs. With one line per
// connection that was most of the balancer's context switches: pinned to
// a CPU shared with a busy process, 0.40 per connection with the line,
// 0.04 to 0.10 without (HAProxy: 0.02). A write to a regular file does
// not wait for a reader; it lands in the page cache, as HAProxy's and
// nginx's log writes do, and like theirs it may wait when the kernel
// throttles dirty pages. A pipe or a terminal may block on its reader:
// it keeps os.Stderr.
func stderrSink() zap.Sink {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(os.Stderr.Fd()), &st); err == nil && st.Mode&syscall.S_IFMT == syscall.S_IFREG {
		return rawFile{stderrFile{os.Stderr}}
	}
	return stderrFile{os.Stderr}
}

// rawFile writes to a regular file with raw write(2) calls.
type rawFile struct{ stderrFile }

func (f rawFile) Write(p []byte) (int, error) {
	fd := f.Fd()
	done := 0
	for done < len(p) {
		rest := p[done:]
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(rest))), uintptr(len(rest)))
		switch {
		case e == syscall.EINTR:
		case e != 0:
			return done, &os.PathError{Op: "write", Path: f.Name(), Err: e}
		default:
			done += int(n)
		}
	}
	return done, nil
}
