package lab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/krbfarm/krbfarm/backend"
	"github.com/krbfarm/krbfarm/lab/proc"
	"go.uber.org/zap"
	"gopkg.in/yaml.v3"
)

// ChildEnv is set in every backend process the lab starts, to "backend".
// Test binaries use it (see labtest) to run as a backend when re-executed.
const ChildEnv = "KRBFARM_CHILD"

// Host is one backend of the farm: a separate process, as a real host is,
// with its own keytab copy, replay cache and log.
type Host struct {
	Name    string // e.g. server1
	Addr    string // 127.0.0.1:port, where it serves
	Dir     string // its files: backend.yaml and its keytab
	Keytab  string // its copy of the service keytab (0600)
	Config  string // its backend.yaml
	LogPath string // its structured log (zap JSON)
	TLS     bool   // serves HTTPS itself (LB in passthrough mode)

	exe    string
	ca     *x509.CertPool
	child  atomic.Pointer[proc.Process] // read by farm.json's writer too
	onExit func(ChildExit)              // told if the process ends unasked; nil = no one
	// changed is told when the host's process starts or ends, for any
	// reason, so farm.json names only a live process; nil = no one.
	changed func()
}

// writeConfig writes the host's backend.yaml.
func (h *Host) writeConfig(cfg backend.Config) error {
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(h.Config, b, 0o600)
}

// start runs the host's process on a listener the lab opens and hands over
// as fd 3, so the port is known before the child runs and nothing races for
// it. It returns once /healthz answers (200, or 503 when its pool is stopped).
func (h *Host) start(ctx context.Context) error {
	ln, err := net.Listen("tcp", h.Addr)
	if err != nil {
		return fmt.Errorf("host %s: listen %s: %w", h.Name, h.Addr, err)
	}
	h.Addr = ln.Addr().String()
	f, err := ln.(*net.TCPListener).File()
	ln.Close() // the child holds the socket from here on
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.Command(h.exe, "backend", "--config", h.Config, "--listen-fd", "3")
	cmd.ExtraFiles = []*os.File{f}
	cmd.Env = append(os.Environ(), ChildEnv+"=backend", ConfigEnv+"="+h.Config)
	p, err := proc.Start("backend "+h.Name, cmd, h.LogPath, "")
	if err != nil {
		return err
	}
	f.Close()
	h.child.Store(p)
	if h.changed != nil {
		go func() { <-p.Done(); h.changed() }()
	}
	if err := h.waitHealthy(ctx); err != nil {
		return err // a death during start-up is this error, not a report
	}
	if h.changed != nil {
		h.changed()
	}
	if h.onExit != nil {
		p.NotifyExit(h.onExit)
	}
	return nil
}

// waitHealthy asks /healthz once, with a deadline; connections queue on the
// listener until the child accepts, so no retry loop is needed.
func (h *Host) waitHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- h.checkHealth(ctx) }()
	select {
	case err := <-errc:
		if err != nil {
			return fmt.Errorf("host %s not healthy: %w; last lines of %s:\n%s", h.Name, err, h.LogPath, proc.TailFile(h.LogPath, 8))
		}
		return nil
	case <-h.child.Load().Done():
		return fmt.Errorf("host %s exited during start-up (%v); last lines of %s:\n%s", h.Name, h.child.Load().Err(), h.LogPath, proc.TailFile(h.LogPath, 8))
	}
}

func (h *Host) checkHealth(ctx context.Context) error {
	scheme := "http"
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	if h.TLS {
		scheme = "https"
		tr.TLSClientConfig = &tls.Config{RootCAs: h.ca, ServerName: "localhost", MinVersion: tls.VersionTLS12}
		// A user's own certificate may not name localhost: this liveness probe
		// of our own child on loopback sends nothing secret, so it need not
		// verify it.
		tr.TLSClientConfig.InsecureSkipVerify = h.ca == nil
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+h.Addr+"/healthz", nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	// 503 is IIS with its app pool stopped (no batch logon right): the host
	// is up and answering, as the scenario expects.
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
		return fmt.Errorf("/healthz answered %s", resp.Status)
	}
	return nil
}

// PID is the host's process ID, or 0 when it is not running.
func (h *Host) PID() int {
	p := h.child.Load()
	if p == nil {
		return 0
	}
	select {
	case <-p.Done():
		return 0
	default:
		return p.PID()
	}
}

// Kill ends the host's process at once, as a crashed server would.
func (h *Host) Kill() {
	if p := h.child.Load(); p != nil {
		p.Kill()
	}
}

// Stop ends the host's process gracefully.
func (h *Host) Stop() error {
	p := h.child.Load()
	if p == nil {
		return nil
	}
	return p.Stop(3 * time.Second)
}

// Restart stops the host and starts it again on the same address, e.g.
// after its keytab or configuration changed.
func (h *Host) Restart(ctx context.Context) error {
	h.Stop()
	return h.start(ctx)
}

func newHost(stateDir, name, exe string) *Host {
	dir := filepath.Join(stateDir, "hosts", name)
	return &Host{
		Name:    name,
		Addr:    "127.0.0.1:0",
		Dir:     dir,
		Keytab:  filepath.Join(dir, "http.keytab"),
		Config:  filepath.Join(dir, "backend.yaml"),
		LogPath: filepath.Join(stateDir, "logs", name+".log"),
		exe:     exe,
	}
}

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
	h.changed = func() {
		if err := f.updateInfo(nil); err != nil {
			f.log.Warn("farm.json not rewritten", zap.String("host", h.Name), zap.Error(err))
		}
	}
}
