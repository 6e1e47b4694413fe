package backend

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// BenchmarkRefusal measures one refused token, its "negotiate refused"
// line included, with the JSON production encoder writing to io.Discard:
// zap's production sampling (first 100 a second, then every 100th) against
// none (one line per refusal, what the hosts do). "malformed" is the
// cheapest refusal, so the logging share is largest there; "modified"
// decrypts a ticket with the wrong key, a common real refusal.
func BenchmarkRefusal(b *testing.B) {
	f := newFixture(b)
	tokens := map[string]string{
		"malformed": "Negotiate AAAA",
		"modified":  mint(b, ticketSpec{kdc: f.wrongPW}),
	}
	for _, sampled := range []bool{true, false} {
		for _, kind := range []string{"malformed", "modified"} {
			name := kind + "/sampling=" + map[bool]string{true: "on", false: "off"}[sampled]
			b.Run(name, func(b *testing.B) {
				s, err := New(Config{Name: "server1", Keytab: f.siteKT, SPN: testSPN, Realm: testRealm}, benchLogger(sampled))
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				benchRefusals(b, s, tokens[kind])
			})
		}
	}
}

func benchRefusals(b *testing.B, s *Site, auth string) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", auth)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized {
			b.Fatalf("status %d; want 401", w.Code)
		}
	}
}

// benchLogger is krbfarm's JSON logger writing to io.Discard, with zap's
// production sampling or without.
func benchLogger(sampled bool) *zap.Logger {
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel)
	if sampled {
		core = zapcore.NewSamplerWithOptions(core, time.Second, 100, 100)
	}
	return zap.New(core)
}

// BenchmarkRefusalLine measures the "negotiate refused" line alone.
func BenchmarkRefusalLine(b *testing.B) {
	ae := malformed("token is not base64")
	for _, sampled := range []bool{true, false} {
		b.Run("sampling="+map[bool]string{true: "on", false: "off"}[sampled], func(b *testing.B) {
			log := benchLogger(sampled).With(zap.String("backend", "server1"))
			b.ReportAllocs()
			for b.Loop() {
				log.Warn("negotiate refused", zap.String("remote", "127.0.0.1:50123"),
					zap.String("reason", ae.Name), zap.Int32("code", ae.Code), zap.String("detail", ae.Detail))
			}
		})
	}
}
