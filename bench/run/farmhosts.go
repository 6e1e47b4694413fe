package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// farmApacheConf is the auth bench's Apache with a name: each instance
// says which one answered in X-Backend, as krbfarm's hosts do.
const farmApacheConf = apacheConf + `LoadModule headers_module /usr/lib/apache2/modules/mod_headers.so
Header always set ` + backendHeader + ` "{{.Backend}}"
`

// farmHAProxyConf terminates TLS with the farm's certificate and
// balances at L4 (mode tcp), as Kerberos farms deploy HAProxy: each
// client connection stays on one host, so a Negotiate context does too.
const farmHAProxyConf = `global
    maxconn 4096
    nbthread 1
    ssl-default-bind-options ssl-min-ver TLSv1.2

defaults
    mode tcp
    timeout connect 3s
    timeout client 10m
    timeout server 10m

frontend fe
    bind {{.Listen}} ssl crt {{.Cert}}
    default_backend be

backend be
    balance roundrobin
{{.Backend}}`

// startFarms starts both farms on a.hostCPU: `krbfarm up` with two hosts,
// then two Apache hosts with the same keytab and HAProxy with the same
// certificate in front; it logs the user in and returns both front doors.
// The page's size goes to settings["page"].
func (a *authEnv) startFarms(ctx context.Context, settings map[string]string) (map[string]authTarget, *tokenMaker, error) {
	up, fi, err := a.startRealm(ctx, a.hostCPU, "server1", "server2")
	if err != nil {
		return nil, nil, fmt.Errorf("krbfarm up: %w", err)
	}
	kt, err := krbfarmTarget(fi, up.pid())
	if err != nil {
		return nil, nil, err
	}
	h, err := a.copyHostFiles(fi)
	if err != nil {
		return nil, nil, err
	}
	user, realm, _ := strings.Cut(fi.Users[0].Principal, "@")
	maker, err := newTokenMaker(h.krb5conf, user, cmpString(realm, fi.Realm), fi.Users[0].Password, fi.SPN)
	if err != nil {
		return nil, nil, err
	}
	n, err := writePage(h, kt, maker)
	if err != nil {
		maker.close()
		return nil, nil, fmt.Errorf("krbfarm page: %w", err)
	}
	settings["page"] = fmt.Sprintf("GET the krbfarm hosts' page (%d B); each Apache serves a static file of the same size", n)
	ht, err := a.startHAApache(ctx, fi, h, kt)
	if err != nil {
		maker.close()
		return nil, nil, err
	}
	fmt.Printf("  realm %s, SPN %s, user %s; krbfarm %s (LB %s), haproxy+apache %s\n", fi.Realm, fi.SPN, user, kt.url, kt.dial, ht.dial)
	return map[string]authTarget{subjKrbfarm: kt, subjHAApache: ht}, maker, nil
}

// krbfarmTarget is krbfarm up's front door: its URL by the FQDN, dialled
// at the LB's address, the certificate checked against the lab CA.
func krbfarmTarget(fi farmInfo, pid int) (authTarget, error) {
	pem, err := os.ReadFile(fi.CACert)
	if err != nil {
		return authTarget{}, fmt.Errorf("lab CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return authTarget{}, fmt.Errorf("lab CA %s: no certificate", fi.CACert)
	}
	u, err := url.Parse(fi.URL)
	if err != nil {
		return authTarget{}, fmt.Errorf("farm URL: %w", err)
	}
	tc := &tls.Config{RootCAs: roots, ServerName: fi.FQDN, MinVersion: tls.VersionTLS12,
		CurvePreferences: []tls.CurveID{tls.X25519}} // no ClientSessionCache: never resumed
	return authTarget{url: "https://" + fi.FQDN + ":" + u.Port() + "/", pids: []int{pid}, tls: tc, dial: fi.LB.Addr}, nil
}

// startHAApache starts two Apache hosts and HAProxy in front of them,
// with krbfarm's certificate; kt gives the client settings to copy.
func (a *authEnv) startHAApache(ctx context.Context, fi farmInfo, h hostFiles, kt authTarget) (authTarget, error) {
	var servers strings.Builder
	pids := []int{}
	for _, name := range []string{"apache1", "apache2"} {
		p, addr, err := a.startNamedApache(ctx, name, h)
		if err != nil {
			return authTarget{}, fmt.Errorf("%s: %w", name, err)
		}
		pids = append(pids, p.pid())
		fmt.Fprintf(&servers, "    server %s %s check\n", name, addr)
	}
	p, addr, err := a.startHAProxy(ctx, fi, servers.String())
	if err != nil {
		return authTarget{}, fmt.Errorf("haproxy: %w", err)
	}
	t := authTarget{url: "https://" + fi.FQDN + ":" + portOf(addr) + "/" + farmPage, pids: append([]int{p.pid()}, pids...), tls: kt.tls, dial: addr}
	return t, waitReady(ctx, p, wantStatusVia(t, http.StatusUnauthorized))
}

// farmPage is the Apache hosts' page, as large as krbfarm's.
const farmPage = "page.html"

// writePage writes Apache's page with as many bytes as the krbfarm
// hosts' authenticated page, so both farms send the same body; it
// returns the size.
func writePage(h hostFiles, kt authTarget, maker *tokenMaker) (int, error) {
	n, err := pageSize(kt, maker)
	if err != nil {
		return 0, err
	}
	return n, os.WriteFile(filepath.Join(h.root, farmPage), []byte(strings.Repeat("k", max(n-1, 0))+"\n"), 0o644)
}

// pageSize is the length of t's page for an authenticated request.
func pageSize(t authTarget, maker *tokenMaker) (int, error) {
	tok, err := maker.token()
	if err != nil {
		return 0, err
	}
	c := &http.Client{Transport: t.transport(authLoad{conns: 1}), Timeout: 5 * time.Second}
	req, err := http.NewRequest(http.MethodGet, t.url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", tok)
	res, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s", res.Status)
	}
	return len(b), err
}

// startNamedApache starts one Apache host that names itself in X-Backend,
// with its own replay cache directory, as on its own machine.
func (a *authEnv) startNamedApache(ctx context.Context, name string, h hostFiles) (*proc, string, error) {
	dir := filepath.Join(a.dir, name)
	if err := mkdirs(dir, ".", "rcache"); err != nil {
		return nil, "", err
	}
	rcache := filepath.Join(dir, "rcache")
	if err := chownToWWW(rcache); err != nil {
		return nil, "", err
	}
	addr, err := loopbackAddr()
	if err != nil {
		return nil, "", err
	}
	conf, err := writeConf(dir, "apache2.conf", farmApacheConf, confData{Dir: dir, Listen: addr, Root: h.root, Key: h.keytab, Backend: name})
	if err != nil {
		return nil, "", err
	}
	p, err := a.ps.startEnv(name, a.hostCPU, []string{"KRB5_CONFIG=" + h.krb5conf, "KRB5RCACHEDIR=" + rcache},
		"apache2", "-d", dir, "-f", conf, "-DFOREGROUND")
	if err != nil {
		return nil, "", err
	}
	return p, addr, waitReady(ctx, p, wantStatus("http://"+addr+"/"+farmPage, http.StatusUnauthorized))
}

// startHAProxy runs HAProxy, one thread, with the farm's certificate and
// key in one PEM, in front of servers (its "server" lines).
func (a *authEnv) startHAProxy(ctx context.Context, fi farmInfo, servers string) (*proc, string, error) {
	dir := filepath.Join(a.dir, "haproxy")
	if err := mkdirs(dir, "."); err != nil {
		return nil, "", err
	}
	pem := filepath.Join(dir, fi.FQDN+".pem")
	if err := catFiles(pem, farmCertFiles(fi)...); err != nil {
		return nil, "", fmt.Errorf("certificate: %w", err)
	}
	addr, err := loopbackAddr()
	if err != nil {
		return nil, "", err
	}
	conf, err := writeConf(dir, "haproxy.cfg", farmHAProxyConf, confData{Listen: addr, Cert: pem, Backend: servers})
	if err != nil {
		return nil, "", err
	}
	p, err := a.ps.start("haproxy", a.hostCPU, "haproxy", "-f", conf, "-db", "-p", filepath.Join(dir, "haproxy.pid"))
	return p, addr, err
}

// farmCertFiles are the certificate and key krbfarm up serves, in its
// state dir (lab.Farm's certFile and keyFile).
func farmCertFiles(fi farmInfo) []string {
	dir := filepath.Join(fi.StateDir, "tls")
	return []string{filepath.Join(dir, fi.FQDN+".pem"), filepath.Join(dir, fi.FQDN+"-key.pem")}
}

// catFiles writes the files' contents, one after the other, to dst.
func catFiles(dst string, srcs ...string) error {
	var all []byte
	for _, s := range srcs {
		b, err := os.ReadFile(s)
		if err != nil {
			return err
		}
		all = append(all, b...)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			all = append(all, '\n')
		}
	}
	return os.WriteFile(dst, all, 0o600)
}

// tlsSummary is what t's front door negotiates with the load
// generator's TLS settings: version, cipher suite, key exchange.
func tlsSummary(t authTarget) string {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", t.dial, t.tls)
	if err != nil {
		return "unknown: " + err.Error()
	}
	defer conn.Close()
	st := conn.ConnectionState()
	return fmt.Sprintf("%s, %s, %s, resumed %v", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), st.CurveID, st.DidResume)
}

// wantStatusVia GETs t's URL through its front door without credentials
// and wants status.
func wantStatusVia(t authTarget, status int) func() error {
	c := &http.Client{Transport: t.transport(authLoad{conns: 1}), Timeout: time.Second}
	return func() error {
		res, err := c.Get(t.url)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != status {
			return fmt.Errorf("%s: %s; want %d", t.url, res.Status, status)
		}
		return nil
	}
}

func portOf(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	return addr[i+1:]
}
