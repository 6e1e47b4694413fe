package tlsterm

import (
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// TestCurlCACert: curl trusts an issued certificate given only the CA file
// (the cert file holds the leaf alone), by name and by IP.
func TestCurlCACert(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	_, f := newLab(t)
	cert, err := LoadKeyPair(f.cert, f.key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		TLSConfig: ServerConfig(cert),
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }),
	}
	go srv.ServeTLS(ln, "", "")
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, host := range []string{ssoName, "127.0.0.1"} {
		t.Run(host, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			url := "https://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/"
			out, err := exec.CommandContext(ctx, curl, "-sS", "--cacert", f.caCert,
				"--resolve", net.JoinHostPort(ssoName, strconv.Itoa(port))+":127.0.0.1", url).CombinedOutput()
			if err != nil || string(out) != "ok" {
				t.Fatalf("curl %s: got %q, %v; want %q", url, out, err, "ok")
			}
		})
	}
}
