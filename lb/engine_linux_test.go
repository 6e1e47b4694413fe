//go:build linux

package lb

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// TestEpollIdleHoldsNoPipe: an idle proxied connection costs the balancer
// its two sockets and nothing else, however much it moved before. Client
// and backend ends live in this process too: 4 descriptors a connection.
func TestEpollIdleHoldsNoPipe(t *testing.T) {
	const n = 50
	echo := listen(t)
	// Hidden behind plain interfaces, the copy uses a buffer: Go's own
	// splice would hold a pipe per backend connection in this process.
	serve(echo, func(c net.Conn) { io.Copy(struct{ io.Writer }{c}, struct{ io.Reader }{c}) })
	_, front := startLB(t, Config{Mode: ModePassthrough, Engine: EngineEpoll, Backends: backends(echo), Health: Health{Interval: time.Hour}}, nil, nil)
	// Warm up: the loops, their pipe pools and Go's poller exist before
	// counting.
	roundTrip(t, front, "warm")
	before := openFDs(t)
	buf := make([]byte, 1<<16)
	for i := range n {
		c, err := net.Dial("tcp", front)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(waitLimit))
		if _, err := c.Write(buf); err != nil { // bytes through a pipe, then idle
			t.Fatalf("conn %d: %v", i, err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("conn %d: %v", i, err)
		}
	}
	// The loops may keep a few free pipes for reuse: allow 8 descriptors
	// of slack in all, not per connection.
	if got, limit := openFDs(t)-before, 4*n+8; got > limit {
		t.Fatalf("%d idle connections opened %d descriptors; want at most %d (4 each: no pipe held)", n, got, limit)
	}
}

// TestEpollBackpressure: a client that reads slowly still gets a large
// transfer intact, while the balancer holds bytes for it in the kernel.
func TestEpollBackpressure(t *testing.T) {
	slowClientGetsAll(t, 8<<20, 1)
}

// slowClientGetsAll sends size random bytes (seeded) from a backend
// through an epoll balancer to a client that reads slowly at first, and
// checks the client gets them all, in order.
func slowClientGetsAll(t *testing.T, size int, seed byte) {
	t.Helper()
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{seed}).Read(data)
	want := sha256.Sum256(data)
	src := listen(t)
	serve(src, func(c net.Conn) { c.Write(data) })
	_, front := startLB(t, Config{Mode: ModePassthrough, Engine: EngineEpoll, Backends: backends(src), Health: Health{Interval: time.Hour}}, nil, nil)
	c, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Small, but above loopback's 64 KiB segments, which a smaller
	// window could not take at all.
	c.(*net.TCPConn).SetReadBuffer(128 << 10)
	c.SetDeadline(time.Now().Add(waitLimit))
	h := sha256.New()
	buf := make([]byte, 4<<10)
	var total int
	for i := 0; ; i++ {
		n, err := c.Read(buf)
		h.Write(buf[:n])
		total += n
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", total, err)
		}
		if i%8 == 0 && total < 1<<20 { // slow for the first MiB: the balancer's writes block
			time.Sleep(time.Millisecond)
		}
	}
	if got := h.Sum(nil); !bytes.Equal(got, want[:]) || total != len(data) {
		t.Fatalf("got %d bytes, sha256 %x; want %d, %x", total, got, len(data), want)
	}
}

// TestEpollBackpressureSmallWrites: a client writing in small pieces to a
// backend that reads slowly: the balancer's path (read, write, rest to a
// pipe, spliced on later) keeps the bytes intact.
func TestEpollBackpressureSmallWrites(t *testing.T) {
	data := make([]byte, 12<<20) // more than the kernel buffers on the way hold
	rand.NewChaCha8([32]byte{2}).Read(data)
	want := sha256.Sum256(data)
	got := make(chan [32]byte, 1)
	sink := listen(t)
	serve(sink, func(c net.Conn) {
		c.(*net.TCPConn).SetReadBuffer(128 << 10)
		h := sha256.New()
		buf := make([]byte, 4<<10)
		total := 0
		for i := 0; ; i++ {
			n, err := c.Read(buf)
			h.Write(buf[:n])
			total += n
			if err != nil {
				break
			}
			if i%8 == 0 && i < 1024 { // slow at first: the balancer's writes block
				time.Sleep(time.Millisecond)
			}
		}
		if total > 0 { // not a health check
			got <- [32]byte(h.Sum(nil))
		}
	})
	_, front := startLB(t, Config{Mode: ModePassthrough, Engine: EngineEpoll, Backends: backends(sink), Health: Health{Interval: time.Hour}}, nil, nil)
	c, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	for off := 0; off < len(data); off += 1000 {
		if _, err := c.Write(data[off:min(off+1000, len(data))]); err != nil {
			t.Fatalf("write at %d: %v", off, err)
		}
	}
	c.(*net.TCPConn).CloseWrite()
	select {
	case sum := <-got:
		if sum != want {
			t.Fatalf("backend got sha256 %x; want %x", sum, want)
		}
	case <-time.After(waitLimit):
		t.Fatal("backend never got EOF")
	}
}

// TestEpollSpillPastSmallPipe: when the kernel grants a pipe less room
// than a read took (a user past its pipe quota gets two pages), the bytes
// the pipe cannot hold wait in the relay's spill and still reach a slow
// client whole and in order.
func TestEpollSpillPastSmallPipe(t *testing.T) {
	old := pipeSize
	pipeSize = 4096 // one page, as a spent quota leaves
	t.Cleanup(func() { pipeSize = old })
	slowClientGetsAll(t, 16<<20, 3)
}

// TestEpollManyConns: many clients at once, each echoed its own payload
// in full.
func TestEpollManyConns(t *testing.T) {
	const clients = 200
	echo := listen(t)
	serve(echo, func(c net.Conn) {
		io.Copy(c, c)
		c.(*net.TCPConn).CloseWrite()
	})
	srv, front := startLB(t, Config{Mode: ModePassthrough, Engine: EngineEpoll, Backends: backends(echo), Health: Health{Interval: time.Hour}}, nil, nil)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Go(func() {
			msg := bytes.Repeat([]byte{byte(i)}, 1000+i*97)
			c, err := net.Dial("tcp", front)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(waitLimit))
			go func() {
				c.Write(msg)
				c.(*net.TCPConn).CloseWrite()
			}()
			got, err := io.ReadAll(c)
			if err == nil && !bytes.Equal(got, msg) {
				err = io.ErrUnexpectedEOF
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if st := srv.Status()[0]; st.Total != clients {
		t.Fatalf("backend total %d; want %d", st.Total, clients)
	}
}

// TestListenPlainTCP: ListenAndServe's front listener is plain TCP, not
// Go's default MPTCP one (which costs each new connection kernel time).
func TestListenPlainTCP(t *testing.T) { forEachEngine(t, testListenPlainTCP) }

func testListenPlainTCP(t *testing.T, engine string) {
	srv, err := New(Config{Backends: backends(nameBackend(t, "a")), Mode: ModePassthrough, Engine: engine}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe(t.Context()) }() // Listen "" = 127.0.0.1:0
	defer func() {
		srv.Close()
		<-served
	}()
	var tl *net.TCPListener
	for deadline := time.Now().Add(waitLimit); tl == nil && time.Now().Before(deadline); {
		srv.mu.Lock()
		for ln := range srv.listeners {
			switch l := ln.(type) {
			case *net.TCPListener:
				tl = l
			case *dupedListener:
				tl = l.TCPListener
			}
		}
		srv.mu.Unlock()
		if tl == nil {
			runtime.Gosched()
		}
	}
	if tl == nil {
		t.Fatal("no TCP listener within the wait limit")
	}
	raw, err := tl.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	proto, perr := -1, error(nil)
	if err := raw.Control(func(fd uintptr) { proto, perr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PROTOCOL) }); err != nil || perr != nil {
		t.Fatal(err, perr)
	}
	if proto != unix.IPPROTO_TCP {
		t.Fatalf("listener protocol %d; want IPPROTO_TCP (%d)", proto, unix.IPPROTO_TCP)
	}
}
