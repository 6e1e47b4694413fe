package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

// Sizes of the origin's files.
const (
	smallSize = 128
	bigSize   = 64 << 20
)

// nginxCommon starts every nginx config: everything nginx would otherwise
// write under /var lives in the prefix.
const nginxCommon = `{{if .Module}}load_module {{.Module}};
{{end}}worker_processes {{.Workers}};
worker_rlimit_nofile {{.Nofile}};
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;
daemon off;
events { worker_connections {{.Conns}}; multi_accept on; }
`

const nginxOrigin = nginxCommon + `http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path {{.Dir}}/body;
    proxy_temp_path {{.Dir}}/proxy;
    fastcgi_temp_path {{.Dir}}/fastcgi;
    uwsgi_temp_path {{.Dir}}/uwsgi;
    scgi_temp_path {{.Dir}}/scgi;
    default_type application/octet-stream;
    server {
        listen {{.Listen}};
        root {{.Root}};
    }
}
`

// Every balancer writes one line per proxied connection, as krbfarm lb
// always does (one JSON line per connection, unsampled, on stderr, which
// the bench sends to a file): nginx to an access log, HAProxy (tcplog)
// to stdout, the same file as its other output. Without them the peers
// would skip work krbfarm does (measured: about 2 to 10 us of CPU per
// connection, each).
const nginxStream = nginxCommon + `stream {
    log_format lb '$remote_addr [$time_local] $status $bytes_sent $bytes_received $session_time "$upstream_addr"';
    access_log {{.Dir}}/access.log lb;
    server {
        listen {{.Listen}}{{if .Cert}} ssl{{end}};
{{if .Cert}}        ssl_certificate {{.Cert}};
        ssl_certificate_key {{.Key}};
        ssl_protocols TLSv1.2 TLSv1.3;
{{end}}        proxy_pass {{.Backend}};
    }
}
`

const haproxyConf = `global
    maxconn {{.Conns}}
    nbthread {{.Workers}}
    log stdout format raw local0 info
{{if .Cert}}    ssl-default-bind-options ssl-min-ver TLSv1.2
{{end}}
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 3s
    timeout client 10m
    timeout server 10m

frontend fe
    bind {{.Listen}}{{if .Cert}} ssl crt {{.Cert}}{{end}}
    maxconn {{.Conns}}
    default_backend be

backend be
    server origin {{.Backend}} maxconn {{.Conns}}
`

// confData fills the templates above.
type confData struct {
	Dir, Module, Listen, Root, Backend, Cert, Key string
	Workers, Conns                                int
	Nofile                                        uint64
}

// writeConf renders tmpl with d into dir/name.
func writeConf(dir, name, tmpl string, d confData) (string, error) {
	t, err := template.New(name).Parse(tmpl)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, b.Bytes(), 0o644)
}

// writeSite writes the origin's files: small.txt and big.bin. Directories
// and files are world-readable: nginx's workers run as nobody.
func writeSite(root string) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	small := bytes.Repeat([]byte("k"), smallSize-1)
	if err := os.WriteFile(filepath.Join(root, "small.txt"), append(small, '\n'), 0o644); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(root, "big.bin"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	for i := 0; i < bigSize/len(chunk); i++ {
		if _, err := f.Write(chunk); err != nil {
			return err
		}
	}
	return f.Close()
}

// tlsFiles are the one certificate all three balancers serve.
type tlsFiles struct{ cert, key, combined string }

// writeCert creates a self-signed ECDSA P-256 certificate for 127.0.0.1
// and localhost: cert.pem, key.pem and, for HAProxy, both in one file.
func writeCert(dir string) (tlsFiles, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tlsFiles{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tlsFiles{}, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tlsFiles{}, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	f := tlsFiles{filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "combined.pem")}
	for path, b := range map[string][]byte{f.cert: certPEM, f.key: keyPEM, f.combined: append(certPEM, keyPEM...)} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return tlsFiles{}, err
		}
	}
	return f, nil
}

// streamModule finds Debian's dynamic nginx stream module; "" when nginx
// has stream built in or the module is not where Debian puts it.
func streamModule() string {
	for _, p := range []string{"/usr/lib/nginx/modules/ngx_stream_module.so", "/usr/share/nginx/modules/ngx_stream_module.so"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// mkdirs creates world-readable directories under dir.
func mkdirs(dir string, names ...string) error {
	for _, n := range names {
		if err := os.MkdirAll(filepath.Join(dir, n), 0o755); err != nil {
			return fmt.Errorf("mkdir %s: %w", n, err)
		}
	}
	return nil
}

// quoteArgs is argv as one readable line.
func quoteArgs(argv []string) string { return strings.Join(argv, " ") }
