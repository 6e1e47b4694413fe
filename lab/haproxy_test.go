package lab_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/internal/peertest"

	"github.com/krbfarm/krbfarm/backend"
	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/labtest"
	"github.com/krbfarm/krbfarm/lb"
)

// Interop with Debian's haproxy over 127.0.0.1, no fixed ports: the test
// opens every listener haproxy serves and hands them over as fd@3, fd@4...

// needHAProxy returns haproxy's path, or skips (fails with
// KRBFARM_REQUIRE_PEERS=1) when it is not installed.
func needHAProxy(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"haproxy", "/usr/sbin/haproxy"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	msg := "haproxy not installed: apt-get install -y haproxy"
	peertest.Missing(t, msg)
	return ""
}

// startHAProxy runs haproxy in the foreground on cfg, whose "bind fd@3",
// "fd@4"... are lns in order, and stops it by its PID when the test ends.
func startHAProxy(t *testing.T, cfg string, lns ...net.Listener) {
	t.Helper()
	bin := needHAProxy(t)
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", path)
	for _, ln := range lns {
		f, err := ln.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
		ln.Close() // haproxy holds the socket from here on
	}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("haproxy: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("haproxy output:\n%s", out.String())
		}
	})
}

// syncBuffer is a bytes.Buffer safe for haproxy's output goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

const haproxyDefaults = `global
    maxconn 256
defaults
    timeout connect 5s
    timeout client 30s
    timeout server 30s
`

// TestHAProxyAcceptProxy: a client on 127.0.0.2 -> our LB (PROXY v1 or v2)
// -> HAProxy "bind accept-proxy", mode http -> a Go origin. HAProxy must
// take the client's address and port from our header.
func TestHAProxyAcceptProxy(t *testing.T) {
	needHAProxy(t)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s", r.Header.Get("X-Src"), r.Header.Get("X-Src-Port"), r.Header.Get("X-Forwarded-For"))
	}))
	t.Cleanup(origin.Close)
	front := listen(t)
	haAddr := front.Addr().String()
	startHAProxy(t, haproxyDefaults+`frontend fe
    mode http
    bind fd@3 accept-proxy
    option forwardfor
    http-request set-header X-Src %[src]
    http-request set-header X-Src-Port %[src_port]
    default_backend be
backend be
    mode http
    server origin `+origin.Listener.Addr().String()+"\n", front)
	for _, v := range []string{lb.ProxyV1, lb.ProxyV2} {
		t.Run(v, func(t *testing.T) {
			addr := startLB(t, lb.Config{Mode: lb.ModePassthrough, ProxyProtocol: v, Backends: []lb.Backend{{Addr: haAddr}}})
			body, local := getFrom(t, "127.0.0.2", "http://"+addr+"/")
			_, port, _ := net.SplitHostPort(local)
			if want := "127.0.0.2 " + port + " 127.0.0.2"; body != want {
				t.Errorf("origin saw %q; want %q (src, src_port, X-Forwarded-For)", body, want)
			}
		})
	}
}

// startLB serves our balancer on 127.0.0.1:0 until the test ends.
func startLB(t *testing.T, cfg lb.Config) string {
	t.Helper()
	srv, err := lb.New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); srv.Close(); <-done })
	return ln.Addr().String()
}

// getFrom GETs url from the local address, retrying (bounded) while the
// chain comes up, and returns the body and the client's own address.
func getFrom(t *testing.T, local, url string) (body, localAddr string) {
	t.Helper()
	var last error
	for range 50 {
		var la string
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 2 * time.Second}
		tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, n, a string) (net.Conn, error) {
			c, err := d.DialContext(ctx, n, a)
			if err == nil {
				la = c.LocalAddr().String()
			}
			return c, err
		}}
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
		if err != nil {
			last = err
			continue // the chain is not up yet: a fresh connection queues on the next try
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return b.String(), la
		}
		last = errors.New(resp.Status + ": " + b.String())
	}
	t.Fatalf("GET %s from %s: %v", url, local, last)
	return "", ""
}

// TestHAProxySendProxyV2: kinit, then curl --negotiate from 127.0.0.3 ->
// HAProxy mode tcp "send-proxy-v2" -> a farm host trusting 127.0.0.1.
// The host must report 127.0.0.3 in X-Client-Address and in its 4624. A
// second HAProxy backend sends from 127.0.0.4, which the host does not
// trust: its header is refused and the client gets no answer; without a
// header that sender is served, as itself.
func TestHAProxySendProxyV2(t *testing.T) {
	needHAProxy(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed: apt-get install -y curl")
	}
	farm := labtest.Start(t, lab.Config{LB: lab.LBConfig{ProxyProtocol: "v2"}, Backends: []lab.BackendConfig{{Name: "server1"}}})
	host := farm.Hosts[0]
	trusted, untrusted, plain := listen(t), listen(t), listen(t)
	tAddr, uAddr, pAddr := trusted.Addr().String(), untrusted.Addr().String(), plain.Addr().String()
	startHAProxy(t, haproxyDefaults+`frontend trusted
    mode tcp
    bind fd@3
    default_backend direct
frontend untrusted
    mode tcp
    bind fd@4
    default_backend other_source
backend direct
    mode tcp
    server s1 `+host.Addr+` send-proxy-v2
frontend plain
    mode tcp
    bind fd@5
    default_backend other_source_plain
backend other_source
    mode tcp
    server s1 `+host.Addr+` send-proxy-v2 source 127.0.0.4
backend other_source_plain
    mode tcp
    server s1 `+host.Addr+` source 127.0.0.4
`, trusted, untrusted, plain)
	env := kinit(t, farm)
	t.Run("trusted", func(t *testing.T) {
		code, client := curlHTTP(t, farm, env, tAddr)
		if ip, _, _ := net.SplitHostPort(client); code != "200" || ip != "127.0.0.3" {
			t.Fatalf("got %s with %s %q; want 200 from 127.0.0.3:<port>", code, backend.ClientAddressHeader, client)
		}
		checkLogonFrom(t, lab.EventsPath(farm.Dir, host.Name), "127.0.0.3")
	})
	t.Run("untrusted sender refused", func(t *testing.T) {
		if code, client := curlHTTP(t, farm, env, uAddr); code != "000" {
			t.Errorf("got %s (client %q); want no answer", code, client)
		}
	})
	t.Run("untrusted sender without header", func(t *testing.T) {
		if code, client := curlHTTP(t, farm, env, pAddr); code != "200" || !strings.HasPrefix(client, "127.0.0.4:") {
			t.Errorf("got %s with %s %q; want 200 from 127.0.0.4:<port> (HAProxy's own address)", code, backend.ClientAddressHeader, client)
		}
	})
}

// curlHTTP signs in with curl --negotiate from 127.0.0.3 to the farm's
// name over plain HTTP at addr; "000" is curl's code for no answer.
func curlHTTP(t *testing.T, farm *lab.Farm, env []string, addr string) (code, client string) {
	t.Helper()
	url := "http://" + farm.Config.FQDN + ":" + port(addr) + "/"
	cmd := exec.Command("curl", "-s", "-o", "/dev/null", "--max-time", "10", "--negotiate", "-u", ":",
		"--interface", "127.0.0.3", "--resolve", farm.Config.FQDN+":"+port(addr)+":127.0.0.1",
		"-w", "%{http_code} %header{x-client-address}", url)
	cmd.Env = env
	out, _ := cmd.Output() // curl exits non-zero on an empty reply: the code says it
	f := append(strings.Fields(string(out)), "", "")
	return f[0], f[1]
}
