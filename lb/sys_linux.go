//go:build linux

package lb

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The event loops' socket system calls, made raw: every socket and pipe
// here is non-blocking, so none of these calls can block, and a raw call
// skips the runtime's entersyscall/exitsyscall. That matters more than
// the few dozen nanoseconds it saves: a loopback connect or close spends
// 10 to 20 µs in the kernel, and the runtime's monitor, seeing the loop's
// P in a system call that long, hands the P to another thread, which
// wakes, finds nothing to do and sleeps again, while the loop's thread,
// back from the kernel, waits for a P: two context switches for nothing,
// and more when the balancer shares its CPU (measured: 0.3 to 0.45
// context switches per connection with unix.*, see docs/lb.md). HAProxy
// and nginx, one thread per worker, pay none of this. Splices out of a
// pipe keep unix.Splice: they may move a megabyte in one call.

// errnoErr returns e as an error, nil for 0; errno values below 256
// convert to an interface without allocating.
func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func sysRead(fd int, p []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

func sysWrite(fd int, p []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// sysClose closes fd; without SO_LINGER, closing a socket never blocks.
func sysClose(fd int) {
	_, _, _ = unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

func sysShutdownWrite(fd int) error {
	_, _, e := unix.RawSyscall(unix.SYS_SHUTDOWN, uintptr(fd), unix.SHUT_WR, 0)
	return errnoErr(e)
}

func sysEpollAdd(epfd, fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), unix.EPOLL_CTL_ADD, uintptr(fd), uintptr(unsafe.Pointer(&ev)), 0, 0)
	return errnoErr(e)
}

// sysEpollPoll returns the events ready now, without waiting.
func sysEpollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// sysSocket returns a non-blocking TCP socket with TCP_NODELAY set.
func sysSocket(family int) (int, error) {
	fd, _, e := unix.RawSyscall(unix.SYS_SOCKET, uintptr(family), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if e != 0 {
		return -1, e
	}
	one := int32(1)
	_, _, _ = unix.RawSyscall6(unix.SYS_SETSOCKOPT, fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, uintptr(unsafe.Pointer(&one)), 4, 0)
	return int(fd), nil
}

// sysConnect starts a non-blocking connect to sa; EINPROGRESS is the
// usual answer.
func sysConnect(fd int, sa unix.Sockaddr) error {
	var raw unix.RawSockaddrAny
	var size uintptr
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		r := (*unix.RawSockaddrInet4)(unsafe.Pointer(&raw))
		r.Family, r.Addr = unix.AF_INET, a.Addr
		putPort(&r.Port, a.Port)
		size = unix.SizeofSockaddrInet4
	case *unix.SockaddrInet6:
		r := (*unix.RawSockaddrInet6)(unsafe.Pointer(&raw))
		r.Family, r.Addr, r.Scope_id = unix.AF_INET6, a.Addr, a.ZoneId
		putPort(&r.Port, a.Port)
		size = unix.SizeofSockaddrInet6
	default:
		return unix.EAFNOSUPPORT
	}
	_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&raw)), size)
	return errnoErr(e)
}

// putPort stores port in network byte order.
func putPort(dst *uint16, port int) {
	p := (*[2]byte)(unsafe.Pointer(dst))
	p[0], p[1] = byte(port>>8), byte(port)
}

// sysAccept accepts a connection on the listening socket fd as a
// non-blocking socket, and stores its peer in raw. Unlike unix.Accept4,
// it asks no SO_PROTOCOL of the listener for every connection.
func sysAccept(fd int, raw *unix.RawSockaddrAny) (int, error) {
	size := uint32(unix.SizeofSockaddrAny)
	nfd, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(raw)), uintptr(unsafe.Pointer(&size)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(nfd), nil
}

// rawAddrPort decodes an IPv4 or IPv6 socket address, IPv4-mapped IPv6
// as IPv4 (as net.TCPAddr prints it); the zero AddrPort for others.
func rawAddrPort(raw *unix.RawSockaddrAny) netip.AddrPort {
	switch raw.Addr.Family {
	case unix.AF_INET:
		r := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		return netip.AddrPortFrom(netip.AddrFrom4(r.Addr), uint16(getPort(r.Port)))
	case unix.AF_INET6:
		r := (*unix.RawSockaddrInet6)(unsafe.Pointer(raw))
		return netip.AddrPortFrom(netip.AddrFrom16(r.Addr).Unmap(), uint16(getPort(r.Port)))
	}
	return netip.AddrPort{}
}

func getPort(p uint16) int {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return int(b[0])<<8 | int(b[1])
}
