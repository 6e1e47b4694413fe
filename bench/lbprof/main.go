// Command lbprof runs the same lb.Server as `krbfarm lb` (same flags, the
// same production zap logger) and writes a CPU profile from start to
// SIGINT/SIGTERM, and a heap profile at the end. It exists to profile the
// balancer under the bench's load without changing lb/:
//
//	go build -o bin/lbprof ./bench/lbprof
//	bin/lbprof --listen 127.0.0.1:9000 --backend 127.0.0.1:8080 --mode passthrough --cpuprofile cpu.pprof &
//	wrk -t1 -c50 -d5s -H 'Connection: close' http://127.0.0.1:9000/small.txt
//	kill -TERM $!; go tool pprof -top bin/lbprof cpu.pprof
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"syscall"

	"go.uber.org/zap"

	"github.com/krbfarm/krbfarm/internal/logsink"
	"github.com/krbfarm/krbfarm/lb"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "lbprof:", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg lb.Config
	var backend, cpuFile, heapFile, traceFile string
	flag.StringVar(&cfg.Listen, "listen", "", "front-door address")
	flag.StringVar(&backend, "backend", "", "one backend address")
	flag.StringVar(&cfg.Mode, "mode", "", "terminate or passthrough")
	flag.StringVar(&cfg.CertFile, "cert", "", "certificate PEM (terminate)")
	flag.StringVar(&cfg.KeyFile, "key", "", "key PEM (terminate)")
	flag.StringVar(&cfg.Engine, "engine", "", "passthrough engine: auto, epoll or goroutine")
	flag.StringVar(&cpuFile, "cpuprofile", "cpu.pprof", "CPU profile to write")
	flag.StringVar(&heapFile, "memprofile", "", "heap profile to write at exit, if set")
	flag.StringVar(&traceFile, "trace", "", "execution trace to write (go tool trace), if set: which thread runs what, and why goroutines wake")
	flag.Parse()
	cfg.Backends = []lb.Backend{{Addr: backend}}
	// What `krbfarm lb` uses: production JSON with sampling off (one
	// line per connection); zap's default sampling would keep about one
	// line in a hundred under load and hide the lines' cost.
	zc := zap.NewProductionConfig()
	zc.Sampling, zc.OutputPaths = nil, []string{logsink.URL}
	log, err := zc.Build()
	if err != nil {
		return err
	}
	srv, err := lb.New(cfg, nil, log)
	if err != nil {
		return err
	}
	f, err := os.Create(cpuFile)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	stopTrace, err := startTrace(traceFile)
	if err != nil {
		return err
	}
	defer stopTrace()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = srv.ListenAndServe(ctx)
	pprof.StopCPUProfile()
	return writeHeap(heapFile, err)
}

func writeHeap(path string, err error) error {
	if path == "" {
		return err
	}
	runtime.GC()
	f, ferr := os.Create(path)
	if ferr != nil {
		return ferr
	}
	defer f.Close()
	if werr := pprof.WriteHeapProfile(f); werr != nil {
		return werr
	}
	return err
}

// startTrace starts the execution trace into path; "" = none.
func startTrace(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := trace.Start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { trace.Stop(); f.Close() }, nil
}
