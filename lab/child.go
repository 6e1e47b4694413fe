package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"

	"go.uber.org/zap"

	"github.com/krbfarm/krbfarm/backend"
)

// RunBackend is the body of a backend process: it serves the site that
// cfg describes until ctx ends. With listenFD > 0 it serves on that
// inherited listener (how the lab starts hosts); otherwise on the config's
// Listen address. When started by the lab (ChildEnv set) it also ends when
// its standard input closes, so a host never outlives the farm that made it.
func RunBackend(ctx context.Context, cfg backend.Config, listenFD int, log *zap.Logger) error {
	site, err := backend.New(cfg, log)
	if err != nil {
		return err
	}
	defer site.Close()
	if os.Getenv(ChildEnv) != "" {
		ctx = cancelOnStdinEOF(ctx)
	}
	if listenFD <= 0 {
		return site.ListenAndServe(ctx)
	}
	ln, err := net.FileListener(os.NewFile(uintptr(listenFD), "listener"))
	if err != nil {
		return fmt.Errorf("listen-fd %d: %w", listenFD, err)
	}
	return site.Serve(ctx, ln)
}

// cancelOnStdinEOF returns a context that ends when standard input closes:
// the lab holds the other end, and closes it on Stop or by dying.
func cancelOnStdinEOF(ctx context.Context) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	return ctx
}
