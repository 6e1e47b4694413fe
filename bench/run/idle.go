package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// holderMain is the origin of the idle test, run as its own process (so
// its file descriptors do not count against the bench's): it accepts
// connections and holds them open, reading until the peer closes. A
// connection to its control address gets the number now held.
func holderMain(args []string) int {
	fs := flag.NewFlagSet("holder", flag.ContinueOnError)
	addrFile := fs.String("addr-file", "", "write \"DATA CONTROL\" addresses here once listening")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	data, err1 := net.Listen("tcp", "127.0.0.1:0")
	ctrl, err2 := net.Listen("tcp", "127.0.0.1:0")
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintln(os.Stderr, "holder:", err)
		return 1
	}
	var open atomic.Int64
	go serveControl(ctrl, &open)
	tmp := *addrFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(data.Addr().String()+" "+ctrl.Addr().String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "holder:", err)
		return 1
	}
	if err := os.Rename(tmp, *addrFile); err != nil {
		fmt.Fprintln(os.Stderr, "holder:", err)
		return 1
	}
	for {
		c, err := data.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "holder: accept:", err)
			time.Sleep(10 * time.Millisecond) // EMFILE: back off, keep serving
			continue
		}
		open.Add(1)
		go func() {
			_, _ = io.Copy(io.Discard, c)
			c.Close()
			open.Add(-1)
		}()
	}
}

func serveControl(ln net.Listener, open *atomic.Int64) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		fmt.Fprintf(c, "%d\n", open.Load())
		c.Close()
	}
}

// holder is a running holderMain, seen from the bench.
type holder struct {
	p          *proc
	data, ctrl string
}

func (e *env) startHolder(ctx context.Context, name string) (*holder, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addrFile := filepath.Join(e.dir, name+".addr")
	if err := os.Remove(addrFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err // a stale file from the last round would name a dead holder
	}
	p, err := e.ps.start(name, e.loadCPU, exe, "holder", "-addr-file", addrFile)
	if err != nil {
		return nil, err
	}
	h := &holder{p: p}
	err = waitReady(ctx, p, func() error {
		b, err := os.ReadFile(addrFile)
		if err != nil {
			return err
		}
		f := strings.Fields(string(b))
		h.data, h.ctrl = f[0], f[1]
		return nil
	})
	return h, err
}

// count asks the holder how many connections it holds.
func (h *holder) count() (int, error) {
	c, err := net.DialTimeout("tcp", h.ctrl, time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(line))
}

// waitCount polls until the holder holds want connections, or the count
// has not moved for 3s, or 60s pass; it returns the last count.
func (h *holder) waitCount(ctx context.Context, want int) (int, error) {
	deadline := time.Now().Add(60 * time.Second)
	last, lastMove := -1, time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		n, err := h.count()
		if err != nil {
			return 0, err
		}
		if n == want {
			return n, nil
		}
		if n != last {
			last, lastMove = n, time.Now()
		} else if time.Since(lastMove) > 3*time.Second {
			return n, nil
		}
		time.Sleep(50 * time.Millisecond) // polling a count, not synchronising
	}
	return last, ctx.Err()
}

// idleResult is one balancer's idle-connection figures.
type idleResult struct {
	reached                int
	kibPerConn, fdsPerConn float64
	beforeKiB, afterKiB    int64
}

// idleMemory opens n connections through a fresh balancer to a holder
// and reports the balancer's resident memory and fds per connection.
func (e *env) idleMemory(ctx context.Context, subject string, n int) (idleResult, error) {
	h, err := e.startHolder(ctx, "holder-"+subject)
	if err != nil {
		return idleResult{}, err
	}
	defer h.p.stop()
	lb, addr, err := e.startLB(ctx, subject, "idle", h.data, false, tcpOK)
	if err != nil {
		return idleResult{}, err
	}
	defer lb.stop()
	if _, err := h.waitCount(ctx, 0); err != nil { // the readiness probe's connection is gone
		return idleResult{}, err
	}
	rss0, fd0, err := treeStat(lb.pid())
	if err != nil {
		return idleResult{}, err
	}
	conns := dialMany(ctx, addr, n)
	defer closeAll(conns)
	reached, err := h.waitCount(ctx, n)
	if err != nil {
		return idleResult{}, err
	}
	time.Sleep(time.Second) // let the balancer's memory settle before reading it
	rss1, fd1, err := treeStat(lb.pid())
	if err != nil || reached == 0 {
		return idleResult{}, errors.Join(err, errors.New("no connection reached the origin"))
	}
	return idleResult{reached: reached, beforeKiB: rss0, afterKiB: rss1,
		kibPerConn: float64(rss1-rss0) / float64(reached), fdsPerConn: float64(fd1-fd0) / float64(reached)}, nil
}

// dialMany opens up to n connections to addr, 64 at a time, and stops at
// the first failure or after 30s.
func dialMany(ctx context.Context, addr string, n int) []net.Conn {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var (
		mu    sync.Mutex
		conns = make([]net.Conn, 0, n)
		next  atomic.Int64
		wg    sync.WaitGroup
		d     = net.Dialer{Timeout: 5 * time.Second}
	)
	for range 64 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				c, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					cancel()
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return conns
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}
