//go:build linux

package logsink

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"
)

// The loggers' stderr, redirected to a regular file (as the bench and
// the farm's logs/ do), is written with raw write(2) calls, every line of
// it; a pipe keeps os.Stderr.
func TestStderrSinkRegularFile(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "lb.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved := os.Stderr
	os.Stderr = f
	defer func() { os.Stderr = saved }()
	if _, ok := stderrSink().(rawFile); !ok {
		t.Fatalf("stderr to a regular file: sink %T; want rawFile", stderrSink())
	}
	cfg := zap.NewProductionConfig()
	cfg.Sampling, cfg.OutputPaths = nil, []string{URL}
	log, err := cfg.Build()
	if err != nil {
		t.Fatal(err)
	}
	const n = 400
	for i := range n {
		log.Info("connection closed", zap.Int("i", i))
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.Count(b, []byte(`"msg":"connection closed"`)); got != n {
		t.Errorf("%d lines logged, %d in the file; want %d", n, got, n)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	os.Stderr = w
	if _, ok := stderrSink().(stderrFile); !ok {
		t.Errorf("stderr to a pipe: sink %T; want stderrFile (os.Stderr)", stderrSink())
	}
}
