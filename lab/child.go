package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/krbfarm/krbfarm/backend"
	"github.com/krbfarm/krbfarm/lab/internal/fsutil"
)

// ConfigEnv names, in a backend process the lab starts, its backend.yaml:
// on SIGHUP the host re-reads its clock_offset and batchLogonRight there and
// reloads its keytab.
const ConfigEnv = "KRBFARM_BACKEND_CONFIG"

// RunBackend is the body of a backend process: it serves the site that
// cfg describes until ctx ends. With listenFD > 0 it serves on that
// inherited listener (how the lab starts hosts); otherwise on the config's
// Listen address. When started by the lab (ChildEnv set) it also ends when
// its standard input closes, so a host never outlives the farm that made it,
// and it reloads on SIGHUP (see ConfigEnv).
func RunBackend(ctx context.Context, cfg backend.Config, listenFD int, log *zap.Logger) error {
	var offset atomic.Int64
	offset.Store(int64(cfg.ClockOffset))
	cfg.ClockOffset = 0 // carried by the clock, so a reload can change it
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	site, err := backend.New(cfg, log, backend.WithClock(clock))
	if err != nil {
		return err
	}
	defer site.Close()
	if os.Getenv(ChildEnv) != "" {
		ctx = cancelOnStdinEOF(ctx)
		go reloadOnHUP(ctx, site, &offset, os.Getenv(ConfigEnv), log)
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

// reloadOnHUP reloads the keytab, the clock offset, the batch logon right
// (restarting the app pool), the header limits and extendedProtection on
// each SIGHUP, then
// acknowledges by copying the lab's "reload" file to "reloaded" next to the
// config, so the lab knows the host has the new keys before it goes on.
func reloadOnHUP(ctx context.Context, site *backend.Site, offset *atomic.Int64, cfgPath string, log *zap.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if cfgPath != "" {
			if c, err := backend.LoadConfig(cfgPath); err == nil {
				offset.Store(int64(c.ClockOffset))
				site.SetBatchLogonRight(c.BatchLogonRight == nil || *c.BatchLogonRight)
				site.SetHeaderLimits(c.MaxFieldLength, c.MaxRequestBytes)
				site.SetAuthPersistSingleRequest(c.AuthPersistSingleRequest)
				if err := site.SetExtendedProtection(c.ExtendedProtection); err != nil && log != nil {
					log.Warn("reload extendedProtection", zap.Error(err))
				}
			} else if log != nil {
				log.Warn("reload config", zap.Error(err))
			}
		}
		if err := site.ReloadKeytab(); err != nil && log != nil {
			log.Warn("reload keytab", zap.Error(err))
		}
		if err := site.ReloadNTLMUsers(); err != nil && log != nil {
			log.Warn("reload ntlm_users", zap.Error(err))
		}
		if cfgPath != "" {
			dir := filepath.Dir(cfgPath)
			if gen, err := os.ReadFile(filepath.Join(dir, "reload")); err == nil {
				fsutil.WriteAtomic(filepath.Join(dir, "reloaded"), gen, 0o600)
			}
		}
	}
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
