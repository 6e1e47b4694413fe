package lb

import (
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
)

// BenchmarkProxy measures passthrough throughput over loopback: one
// connection, bytes written by the client, echoed by the backend, read
// back by the client. SetBytes counts one direction.
func BenchmarkProxy(b *testing.B) {
	forEachEngine(b, benchProxy)
}

func benchProxy(b *testing.B, engine string) {
	be := listen(b)
	serve(be, func(c net.Conn) {
		io.Copy(c, c)
		c.(*net.TCPConn).CloseWrite()
	})
	_, front := startLB(b, Config{Backends: backends(be), Mode: ModePassthrough, Engine: engine, Health: Health{Interval: time.Hour}}, nil, nil)
	c, err := net.Dial("tcp", front)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	chunk := make([]byte, 128<<10)
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	wrote := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < b.N && err == nil; i++ {
			_, err = c.Write(chunk)
		}
		c.(*net.TCPConn).CloseWrite()
		wrote <- err
	}()
	n, err := io.Copy(io.Discard, c)
	if err != nil {
		b.Fatal(err)
	}
	if err := <-wrote; err != nil {
		b.Fatal(err)
	}
	if want := int64(b.N) * int64(len(chunk)); n != want {
		b.Fatalf("read %d bytes; want %d", n, want)
	}
}

// BenchmarkConnectParallel is BenchmarkConnect from several clients at
// once: what the balancer's CPU costs per connection, not one's latency.
func BenchmarkConnectParallel(b *testing.B) {
	forEachEngine(b, func(b *testing.B, engine string) {
		front := connectBench(b, engine)
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			buf := make([]byte, 1)
			for pb.Next() {
				if err := oneConn(front, buf); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkConnect measures connection setup through the balancer in
// passthrough: a new client connection per iteration, one byte each way,
// then close. It is what a client opening a connection per request costs.
func BenchmarkConnect(b *testing.B) {
	forEachEngine(b, func(b *testing.B, engine string) {
		front := connectBench(b, engine)
		buf := make([]byte, 1)
		for i := 0; i < b.N; i++ {
			if err := oneConn(front, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// connectBench starts a one-byte echo backend and a balancer in front.
func connectBench(b *testing.B, engine string) string {
	be := listen(b)
	serve(be, func(c net.Conn) {
		buf := make([]byte, 1)
		if _, err := c.Read(buf); err == nil {
			c.Write(buf)
		}
	})
	_, front := startLB(b, Config{Backends: backends(be), Mode: ModePassthrough, Engine: engine, Health: Health{Interval: time.Hour}}, nil, nil)
	b.ResetTimer()
	return front
}

// oneConn opens a connection to front, sends and reads back one byte.
func oneConn(front string, buf []byte) error {
	c, err := net.Dial("tcp", front)
	if err != nil {
		return err
	}
	defer c.Close()
	return pingByte(c, buf)
}

// pingByte writes buf on c and reads as many bytes back into it, without
// allocating (echoOnce, for tests, checks what comes back).
func pingByte(c net.Conn, buf []byte) error {
	if _, err := c.Write(buf); err != nil {
		return err
	}
	_, err := io.ReadFull(c, buf)
	return err
}

// BenchmarkPingPong measures small exchanges on kept-alive connections
// from several clients at once: 128 bytes to an echo backend and back.
func BenchmarkPingPong(b *testing.B) {
	forEachEngine(b, func(b *testing.B, engine string) {
		be := listen(b)
		serve(be, func(c net.Conn) { io.Copy(c, c) })
		_, front := startLB(b, Config{Backends: backends(be), Mode: ModePassthrough, Engine: engine, Health: Health{Interval: time.Hour}}, nil, nil)
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			c, err := net.Dial("tcp", front)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			buf := make([]byte, 128)
			for pb.Next() {
				if _, err := c.Write(buf); err != nil {
					b.Error(err)
					return
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkConnectLogged is BenchmarkConnectParallel with zap's
// production JSON logger writing to a file, as `krbfarm lb` writes to a
// redirected stderr: one "connection closed" line per connection
// (unsampled, what krbfarm does) against zap's default sampling (100 a
// second, then 1 in 100), to price the line.
func BenchmarkConnectLogged(b *testing.B) {
	for _, sampled := range []bool{false, true} {
		name := "unsampled"
		if sampled {
			name = "sampled"
		}
		b.Run(name, func(b *testing.B) {
			zc := zap.NewProductionConfig()
			if !sampled {
				zc.Sampling = nil
			}
			zc.OutputPaths = []string{filepath.Join(b.TempDir(), "lb.log")}
			log, err := zc.Build()
			if err != nil {
				b.Fatal(err)
			}
			be := listen(b)
			serve(be, func(c net.Conn) {
				buf := make([]byte, 1)
				if _, err := c.Read(buf); err == nil {
					c.Write(buf)
				}
			})
			_, front := startLB(b, Config{Backends: backends(be), Mode: ModePassthrough, Health: Health{Interval: time.Hour}}, nil, log)
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, 1)
				for pb.Next() {
					if err := oneConn(front, buf); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
