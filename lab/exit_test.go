package lab_test

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/kdc"
)

// startWatched starts a farm that sends each unexpected child exit to the
// returned channel.
func startWatched(t *testing.T) (*lab.Farm, <-chan lab.ChildExit) {
	t.Helper()
	exits := make(chan lab.ChildExit, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	farm, err := lab.Start(ctx, lab.Config{}, lab.WithChildExit(func(ex lab.ChildExit) { exits <- ex }))
	var missing *kdc.MissingToolsError
	if errors.As(err, &missing) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { farm.Close() })
	return farm, exits
}

func waitExitReport(t *testing.T, exits <-chan lab.ChildExit) lab.ChildExit {
	t.Helper()
	select {
	case ex := <-exits:
		return ex
	case <-time.After(20 * time.Second):
		t.Fatal("no report of the killed child within 20s")
		return lab.ChildExit{}
	}
}

// TestHostKilledIsReported is issue 8 item 6: a host killed from outside
// (kill -9 PID) went unnoticed.
func TestHostKilledIsReported(t *testing.T) {
	farm, exits := startWatched(t)
	h := farm.Host("server1")
	pid := h.PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ex := waitExitReport(t, exits)
	if ex.Host != "server1" || ex.PID != pid || ex.Signal != syscall.SIGKILL || ex.Code != -1 || ex.LogPath != h.LogPath {
		t.Errorf("report: got %+v; want server1, pid %d, SIGKILL, log %s", ex, pid, h.LogPath)
	}
	msg := ex.String()
	for _, want := range []string{"backend server1", "signal: killed", h.LogPath, `"backend":"server1"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("report %q does not say %q", msg, want)
		}
	}
	if n := strings.Count(ex.Tail, "\n") + 1; n > 10 {
		t.Errorf("tail has %d lines; want at most 10", n)
	}
	// The rest of the farm keeps running.
	if farm.Realm.PID() == 0 || farm.Host("server2").PID() == 0 {
		t.Errorf("after server1 died: KDC pid %d, server2 pid %d; want both running", farm.Realm.PID(), farm.Host("server2").PID())
	}
	// A host the lab stops or kills itself is not reported.
	farm.Host("server2").Kill()
	if err := farm.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case ex := <-exits:
		t.Errorf("reported %s; want no report for children the lab ended", ex)
	default:
	}
}

func TestKDCKilledIsReported(t *testing.T) {
	farm, exits := startWatched(t)
	pid := farm.Realm.PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ex := waitExitReport(t, exits)
	if !ex.KDC() || ex.PID != pid || ex.Signal != syscall.SIGKILL || ex.LogPath != farm.Realm.LogPath || !strings.Contains(ex.Tail, "krb5kdc") {
		t.Errorf("report: got %+v; want the KDC, pid %d, SIGKILL, the tail of %s", ex, pid, farm.Realm.LogPath)
	}
}
