package clients_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/internal/chromiumtest"
	"github.com/krbfarm/krbfarm/internal/peertest"

	"github.com/chromedp/chromedp"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/labtest"
)

// Debian's headless Chromium logs in to a real farm with Kerberos, through
// the load balancer in each TLS mode. It trusts the lab CA through an NSS
// database in its own HOME (never --ignore-certificate-errors), finds alice's
// TGT in a credential cache made by the real MIT kinit, and gets the service
// ticket itself through MIT GSSAPI, as a user's browser does.

const (
	chromiumTimeout = 45 * time.Second // per mode: farm, browser, every page
	minPages        = 3                // authenticated pages per mode, at least
	maxPages        = 8                // and at most, while a host is unseen
)

func TestChromiumKerberosThroughLB(t *testing.T) {
	tools := chromiumTools{
		chromium: chromiumtest.Need(t),
		certutil: needPeer(t, "libnss3-tools", "certutil"),
		kinit:    needPeer(t, "krb5-user", "kinit"),
	}
	for _, mode := range []string{"terminate", "passthrough", "reencrypt"} {
		t.Run(mode, func(t *testing.T) {
			farm := labtest.Start(t, lab.Config{LB: lab.LBConfig{Mode: mode}})
			in := farm.Info()
			ctx, cancel := context.WithTimeout(t.Context(), chromiumTimeout)
			defer cancel()
			b := startChromium(ctx, t, tools, in)
			warmUp(t, b, in.URL)
			pagesFromEveryHost(t, b, in)
		})
	}
}

type chromiumTools struct{ chromium, certutil, kinit string }

// needPeer returns the first of programs found, or skips t (fails it with
// KRBFARM_REQUIRE_PEERS=1) saying which Debian package to install.
func needPeer(t *testing.T, pkg string, programs ...string) string {
	t.Helper()
	for _, p := range programs {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	msg := fmt.Sprintf("%s not installed: apt-get install -y %s", programs[0], pkg)
	peertest.Missing(t, msg)
	return ""
}

// startChromium runs Chromium with a fresh profile, the lab CA trusted in
// its NSS database and alice's credential cache, and stops it when t ends.
func startChromium(ctx context.Context, t *testing.T, tools chromiumTools, in lab.Info) *chromiumtest.Browser {
	t.Helper()
	home := nssHome(ctx, t, tools.certutil, in.CACert)
	ccache := kinitCache(ctx, t, tools.kinit, in)
	return chromiumtest.Start(ctx, t, tools.chromium,
		// Kerberos only for the farm's name. *.localhost resolves to
		// loopback inside Chromium, so the URL keeps the SPN's name.
		chromedp.Flag("auth-server-allowlist", in.FQDN),
		chromedp.Env("HOME="+home, "KRB5_CONFIG="+in.Krb5Conf, "KRB5CCNAME="+ccache))
}

// nssHome is a HOME whose NSS database (~/.pki/nssdb, where Chromium on
// Linux looks) trusts the CA in caFile to issue server certificates.
func nssHome(ctx context.Context, t *testing.T, certutil, caFile string) string {
	t.Helper()
	home := t.TempDir()
	dir := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home}
	run(ctx, t, env, "", certutil, "-d", "sql:"+dir, "-N", "--empty-password")
	run(ctx, t, env, "", certutil, "-d", "sql:"+dir, "-A", "-t", "C,,", "-n", "krbfarm", "-i", caFile)
	return home
}

// kinitCache logs the farm's first user in with MIT kinit, its password on
// stdin, and returns the credential cache (FILE:...).
func kinitCache(ctx context.Context, t *testing.T, kinit string, in lab.Info) string {
	t.Helper()
	if len(in.Users) == 0 {
		t.Fatal("farm.Info lists no user")
	}
	u := in.Users[0]
	cc := "FILE:" + filepath.Join(t.TempDir(), "ccache")
	env := []string{"KRB5_CONFIG=" + in.Krb5Conf, "KRB5CCNAME=" + cc}
	run(ctx, t, env, u.Password+"\n", kinit, u.Principal)
	return cc
}

// run runs a program to completion with env added to the test's, failing t
// with its output (which never holds the password given on stdin).
func run(ctx context.Context, t *testing.T, env []string, stdin, prog string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(prog), strings.Join(args, " "), err, out)
	}
}

// warmUp is the profile's first navigation. Chromium on Linux keeps GSSAPI
// unloaded until its network service has seen a Negotiate challenge: it
// then records that in the profile's Local State
// (net.received_http_auth_negotiate_headers) and restarts the network
// service unsandboxed, since the Kerberos library does not work inside the
// sandbox. The challenge that triggers this is handled as if Negotiate were
// unsupported (ERR_UNSUPPORTED_AUTH_SCHEME in a net-log), so Chromium falls
// back to NTLM, which the site also offers, has no NTLM credentials
// headless, and stops with ERR_INVALID_AUTH_CREDENTIALS. That, or success (a
// Chromium that loads GSSAPI up front), is what the first page may give.
func warmUp(t *testing.T, b *chromiumtest.Browser, url string) {
	t.Helper()
	err := chromedp.Do(b.Tab, chromedp.Navigate(url))
	var le *chromedp.LoadError
	switch {
	case err == nil:
		t.Log("first navigation authenticated: this Chromium loads GSSAPI up front")
	case errors.As(err, &le) && le.ErrorText == "net::ERR_INVALID_AUTH_CREDENTIALS":
		t.Logf("first navigation in a fresh profile: %v (GSSAPI not loaded yet; expected)", err)
	default:
		t.Fatalf("first navigation: %v", err)
	}
}

// pagesFromEveryHost loads the farm's page, each time in a new browser
// context (its own connections, as another window of a private session), at
// least minPages times and until every host has served one, and checks
// each page is alice's, authenticated with Kerberos on that page's request.
//
// The load balancer takes turns by connection, not by page. A fresh context
// opens one connection per page, except where the hosts speak TLS
// themselves (passthrough): there it first gets HTTP/2, the 401 makes it
// retry on a new HTTP/1.1 connection (Negotiate is connection-bound, which
// HTTP/2 is not), and two connections a page always give the second turn to
// the same host. When a page comes from the previous page's host, another
// client connects in between, as a real farm's other users do.
func pagesFromEveryHost(t *testing.T, b *chromiumtest.Browser, in lab.Info) {
	t.Helper()
	seen, last, repeat := map[string]int{}, "", false
	for i := 0; i < maxPages && (i < minPages || len(seen) < len(in.Backends)); i++ {
		if repeat {
			t.Logf("another client connects, served by %s", otherClient(t, in))
		}
		p, err := visit(b.Tab, in.URL)
		if err != nil {
			t.Fatalf("page %d: %v", i+1, err)
		}
		checkPage(t, p, in)
		host := p.Fields["backend"]
		t.Logf("page %d: %q over %s from %s", i+1, p.Heading, p.Protocol, host)
		seen[host]++
		last, repeat = host, host == last
	}
	for _, h := range in.Backends {
		if seen[h.Name] == 0 {
			t.Errorf("host %s served none of the pages (served: %v)", h.Name, seen)
		}
	}
}

// page is what one navigation showed.
type page struct {
	Status   int64
	Protocol string            // e.g. http/1.1, h2
	Heading  string            // "Hello, alice@REALM"
	Fields   map[string]string // the site's <dl>: backend, user, mechanism...
}

// pageJS reads the site's identity page: its heading and its dt/dd pairs.
const pageJS = `({
	heading: document.querySelector("h1")?.textContent ?? "",
	fields: Object.fromEntries([...document.querySelectorAll("dt")].map(
		dt => [dt.textContent, dt.nextElementSibling?.textContent ?? ""])),
})`

// visit loads url in a new browser context, disposed on return.
func visit(ctx context.Context, url string) (page, error) {
	cctx, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancel()
	resp, err := chromedp.Run(cctx, chromedp.NavigateResponse(url))
	if err != nil {
		return page{}, err
	}
	shown, err := chromedp.Run(cctx, chromedp.Evaluate[struct {
		Heading string            `json:"heading"`
		Fields  map[string]string `json:"fields"`
	}](pageJS))
	if err != nil {
		return page{}, fmt.Errorf("read page: %w", err)
	}
	return page{Status: resp.Status, Protocol: resp.Protocol, Heading: shown.Heading, Fields: shown.Fields}, nil
}

// checkPage fails t unless p is the farm's page for its first user, who
// authenticated with Kerberos on this very request, over HTTP/1.1.
func checkPage(t *testing.T, p page, in lab.Info) {
	t.Helper()
	user := in.Users[0].Principal
	want := map[string]string{"user": user, "mechanism": "Kerberos", "spn": in.SPN, "realm": in.Realm,
		"persisted": "false"} // a new connection: this request carried the token
	if p.Status != http.StatusOK {
		t.Errorf("status %d; want 200", p.Status)
	}
	if p.Heading != "Hello, "+user {
		t.Errorf("heading %q; want %q", p.Heading, "Hello, "+user)
	}
	for k, v := range want {
		if p.Fields[k] != v {
			t.Errorf("%s %q; want %q (page: %v)", k, p.Fields[k], v, p.Fields)
		}
	}
	if p.Protocol != "http/1.1" {
		t.Errorf("protocol %q; want http/1.1: Negotiate is connection-bound", p.Protocol)
	}
}

// otherClient makes one anonymous request on its own connection through the
// load balancer (GET /healthz) and returns the host that answered.
func otherClient(t *testing.T, in lab.Info) string {
	t.Helper()
	pem, err := os.ReadFile(in.CACert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: in.FQDN},
		DialContext:       func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, "tcp", in.LB.Addr) },
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	res, err := c.Get(strings.TrimSuffix(in.URL, "/") + "/healthz")
	if err != nil {
		t.Fatalf("other client: %v", err)
	}
	res.Body.Close()
	return res.Header.Get("X-Backend")
}
