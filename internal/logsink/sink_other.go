//go:build !linux

package logsink

import (
	"os"

	"go.uber.org/zap"
)

// stderrSink is stderr for the loggers.
func stderrSink() zap.Sink { return stderrFile{os.Stderr} }
