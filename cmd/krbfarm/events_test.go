package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/backend"
	"github.com/krbfarm/krbfarm/lab"
)

// eventsState writes a farm.json with two hosts and their event files:
// server1 named in farm.json, server2 at the conventional path.
func eventsState(t *testing.T) (string, map[string]*backend.EventLog) {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "logs"), 0o700)
	in := lab.Info{Backends: []lab.BackendInfo{
		{Name: "server1", Events: filepath.Join(dir, "logs", "s1.jsonl")},
		{Name: "server2"},
	}}
	b, _ := json.Marshal(in)
	if err := os.WriteFile(filepath.Join(dir, "farm.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	logs := map[string]*backend.EventLog{}
	for name, p := range map[string]string{"server1": in.Backends[0].Events, "server2": lab.EventsPath(dir, "server2")} {
		l, err := backend.OpenEventLog(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		logs[name] = l
	}
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	logs["server2"].Write(backend.Event{Time: t0.Add(time.Second), Host: "server2", ID: 4625, Source: "Security", Package: "Kerberos",
		Status: "0xC0000133", SubStatus: "0x0", Reason: "KRB_AP_ERR_SKEW"})
	logs["server1"].Write(backend.Event{Time: t0, Host: "server1", ID: 4624, Source: "Security", User: "alice@R", Package: "Kerberos"})
	return dir, logs
}

func runCmd(t *testing.T, ctx context.Context, out io.Writer, args ...string) error {
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(out)
	return root.ExecuteContext(ctx)
}

func TestEventsCommand(t *testing.T) {
	dir, _ := eventsState(t)
	tests := []struct {
		name  string
		args  []string
		want  []string // in this order
		avoid string
		err   string
	}{
		{name: "table, time order", args: nil, want: []string{"HOST", "server1   4624  alice@R", "Kerberos", "server2   4625", "Kerberos 0xC0000133/0x0", "KRB_AP_ERR_SKEW"}},
		{name: "one host", args: []string{"--host", "server2"}, want: []string{"4625"}, avoid: "server1"},
		{name: "json", args: []string{"-o", "json"}, want: []string{`{"time":"2026-01-01T10:00:00Z","host":"server1","id":4624`, `"status":"0xC0000133"`}},
		{name: "unknown host", args: []string{"--host", "server9"}, err: "hosts are server1, server2"},
		{name: "bad output", args: []string{"-o", "yaml"}, err: "table or json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := runCmd(t, context.Background(), &out, append([]string{"events", "--state", dir}, tt.args...)...)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v; want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s, rest := out.String(), out.String()
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in order):\n%s", w, s)
				}
				rest = rest[i+len(w):]
			}
			if tt.avoid != "" && strings.Contains(s, tt.avoid) {
				t.Errorf("output has %q:\n%s", tt.avoid, s)
			}
		})
	}
}

func TestEventsFollow(t *testing.T) {
	dir, logs := eventsState(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runCmd(t, ctx, pw, "events", "--state", dir, "--follow")
		pw.Close()
	}()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	wait := func(want string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case l := <-lines:
				if strings.Contains(l, want) {
					return
				}
			case <-deadline:
				t.Fatalf("no line with %q within 10s", want)
			}
		}
	}
	wait("KRB_AP_ERR_SKEW")
	logs["server1"].Write(backend.Event{Time: time.Now(), Host: "server1", ID: 5021, Source: "WAS", Reason: "LOGON_TYPE_NOT_GRANTED", Message: "pool stopped"})
	wait("LOGON_TYPE_NOT_GRANTED: pool stopped")
	cancel()
	go io.Copy(io.Discard, pr)
	if err := <-done; err != nil {
		t.Errorf("events --follow returned %v after cancel; want nil", err)
	}
}
