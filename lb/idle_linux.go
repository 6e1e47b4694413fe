package lb

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// tcpBytes is the socket's bytes received plus bytes sent and
// acknowledged, from TCP_INFO (Linux 4.2 and later).
func tcpBytes(raw syscall.RawConn) (uint64, bool) {
	var n uint64
	var serr error
	err := raw.Control(func(fd uintptr) {
		var info *unix.TCPInfo
		info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if serr == nil {
			n = info.Bytes_received + info.Bytes_acked
		}
	})
	return n, err == nil && serr == nil
}
