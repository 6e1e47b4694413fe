// Package logsink is the loggers' stderr: URL names it in a zap.Config's
// OutputPaths. See stderrSink for why it is not zap's own "stderr".
package logsink

import (
	"net/url"
	"os"

	"go.uber.org/zap"
)

// URL is where the loggers write: stderr, through stderrSink.
const URL = stderrScheme + ":"

const stderrScheme = "krbfarm-stderr"

func init() {
	if err := zap.RegisterSink(stderrScheme, func(*url.URL) (zap.Sink, error) { return stderrSink(), nil }); err != nil {
		panic(err)
	}
}

// stderrFile is os.Stderr as a zap.Sink that Close leaves open, as zap's
// own "stderr" sink.
type stderrFile struct{ *os.File }

func (stderrFile) Close() error { return nil }
