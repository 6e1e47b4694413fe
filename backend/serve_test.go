package backend

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestServe(t *testing.T) {
	f := newFixture(t)
	s, _ := newSite(t, "server1", f.siteKT, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), ln) }()
	base := "http://" + ln.Addr().String()
	tests := []struct {
		name, path, auth string
		status           int
		body             string
	}{
		{"healthz", "/healthz", "", 200, "ok"},
		{"challenge", "/", "", 401, ""},
		{"authenticated html", "/app", mint(t, ticketSpec{kdc: f.kdc}), 200, "alice@" + testRealm},
		{"header too long", "/", "Negotiate " + strings.Repeat("A", 17000), 400, "Request Header Too Long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, base+tt.path, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.body) {
				t.Errorf("got %d %q; want %d containing %q", resp.StatusCode, b, tt.status, tt.body)
			}
		})
	}
	for i := range 2 {
		if err := s.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
	if err := <-done; err != nil {
		t.Errorf("Serve returned %v; want nil after Close", err)
	}
	if err := s.Serve(context.Background(), ln); err != nil {
		t.Errorf("Serve after Close returned %v; want nil", err)
	}
}

func TestServeContextCancel(t *testing.T) {
	f := newFixture(t)
	s, _ := newSite(t, "server1", f.siteKT, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve returned %v; want nil on cancel", err)
	}
}
