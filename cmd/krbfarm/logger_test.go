package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"go.uber.org/zap"

	"github.com/krbfarm/krbfarm/backend"
)

// Regression: the hosts' JSON logger kept zap's production sampling, so
// 1,000 bad tokens gave 109 "negotiate refused" lines, not the one per
// refusal the README promises.
func TestLoggerOneLinePerRefusal(t *testing.T) {
	const n = 1000
	dir := t.TempDir()
	out := filepath.Join(dir, "backend.log")
	cfg := loggerConfig(true, zap.InfoLevel)
	cfg.OutputPaths, cfg.ErrorOutputPaths = []string{out}, []string{"stderr"}
	log, err := cfg.Build()
	if err != nil {
		t.Fatal(err)
	}
	site, err := backend.New(backend.Config{Name: "server1", Keytab: testKeytab(t, dir)}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { site.Close() })
	for range n {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "Negotiate AAAA")
		site.ServeHTTP(httptest.NewRecorder(), r)
	}
	log.Sync()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.Count(b, []byte(`"msg":"negotiate refused"`)); got != n {
		t.Errorf("%d bad tokens gave %d \"negotiate refused\" lines; want %d", n, got, n)
	}
	if got := site.Stats().Refusals[backend.ReasonMalformed]; got != n {
		t.Errorf("Stats().Refusals[%s] = %d; want %d", backend.ReasonMalformed, got, n)
	}
}

// testKeytab writes a one-key keytab for HTTP/sso.krbfarm.localhost.
func testKeytab(t *testing.T, dir string) string {
	kt := keytab.New()
	if err := kt.AddEntry("HTTP/sso.krbfarm.localhost", "KRBFARM.LOCALHOST", "pw", time.Now(), 1, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	b, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "http.keytab")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
