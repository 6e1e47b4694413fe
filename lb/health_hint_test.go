package lb

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestHealthProxyHeaderHint: with proxy_protocol against a backend that
// does not read PROXY headers (docs/lb.md's full example once did this),
// the backend goes down and the log line says the likely cause.
func TestHealthProxyHeaderHint(t *testing.T) {
	for _, v := range []string{ProxyV1, ProxyV2} {
		t.Run(v, func(t *testing.T) {
			var code atomic.Int32
			code.Store(http.StatusOK)
			plain := statusBackend(t, "a", &code)
			o := newObserved()
			cfg := Config{Mode: ModePassthrough, ProxyProtocol: v, Backends: []Backend{{Name: "a", Addr: plain.Listener.Addr().String()}},
				Health: Health{Type: HealthHTTP, Interval: 5 * time.Millisecond, Fall: 1}}
			startLB(t, cfg, nil, o.log)
			o.waitEvent(t, "backend down")
			down := o.logs.FilterMessage("backend down").All()
			if len(down) == 0 {
				t.Fatal("no backend down entry")
			}
			msg := down[0].ContextMap()["error"]
			if s, _ := msg.(string); !strings.Contains(s, "does not read PROXY headers") || !strings.Contains(s, "PROXY "+v+" header") {
				t.Errorf("backend down error %q; want the PROXY %s hint", msg, v)
			}
		})
	}
}

func TestProxyHintOnlyForThoseFailures(t *testing.T) {
	p := &pool{proxyHeader: ProxyV2}
	if err := p.explainCheck(errHealthStatus{503}); strings.Contains(err.Error(), "PROXY") {
		t.Errorf("503: %v; want no PROXY hint (the backend read the request)", err)
	}
	if err := (&pool{}).explainCheck(errHealthStatus{400}); strings.Contains(err.Error(), "PROXY") {
		t.Errorf("400 without proxy_protocol: %v; want no hint", err)
	}
	if err := p.explainCheck(errHealthStatus{400}); !errors.As(err, new(errHealthStatus)) || !strings.Contains(err.Error(), "PROXY v2") {
		t.Errorf("400 with proxy_protocol: %v; want the hint, wrapping the status", err)
	}
}

// TestNoBackendErrorNoNilWrap: with every backend down nothing is tried,
// and the error once ended "%!w(<nil>)".
func TestNoBackendErrorNoNilWrap(t *testing.T) {
	g := newGeneration(Config{Backends: []Backend{{Addr: "127.0.0.1:1"}}}.withDefaults(), nil)
	g.upstreams[0].healthy.Store(false)
	err := noBackendError(g, nil)
	if strings.Contains(err.Error(), "%!") || !errors.Is(err, errNoBackend) {
		t.Errorf("all down: %q; want errNoBackend without a formatting error", err)
	}
	dial := errors.New("connection refused")
	err = noBackendError(g, []error{dial})
	if !errors.Is(err, dial) || !strings.Contains(err.Error(), "(1 failed, 0 at max_conns): connection refused") {
		t.Errorf("one failed: %q; want it wrapped and named", err)
	}
}
