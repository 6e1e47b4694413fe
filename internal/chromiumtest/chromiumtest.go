// Package chromiumtest starts Debian's headless Chromium for tests, the
// same way everywhere: a fresh profile in the test's temp dir, no
// background traffic, its output kept for the failure message, and the
// browser gone (waited for) when the test ends.
//
//	path := chromiumtest.Need(t)
//	b := chromiumtest.Start(ctx, t, path, chromedp.Flag("auth-server-allowlist", fqdn))
//	chromedp.Run(b.Tab, chromedp.Navigate(url))
package chromiumtest

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/krbfarm/krbfarm/internal/peertest"
)

// Need returns Chromium's path, or ends t (peertest.Missing) saying what
// to install.
func Need(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	peertest.Missing(t, "chromium not installed: apt-get install -y chromium")
	return ""
}

// Browser is a running headless Chromium.
type Browser struct {
	Tab context.Context // its first tab
	Out *Output         // what it wrote on stdout and stderr
}

// Start runs Chromium at path with a fresh profile and the options every
// test wants, then extra (flags, Env), and waits for its first tab. When t
// ends, the browser is stopped and waited for (before TempDir's cleanup),
// and the tail of its output is logged if t failed.
func Start(ctx context.Context, t testing.TB, path string, extra ...chromedp.ExecAllocatorOption) *Browser {
	t.Helper()
	b := &Browser{Out: &Output{}}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox, // as root in a container; never on a desktop
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		chromedp.CombinedOutput(b.Out),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(opts, extra...)...)
	tab, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for Chromium to exit
		if t.Failed() {
			t.Logf("chromium output (tail):\n%s", Tail(b.Out.String(), 40))
		}
	})
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start %s: %v\n%s", path, err, Tail(b.Out.String(), 40))
	}
	b.Tab = tab
	return b
}

// Output is an io.Writer safe for Chromium's two output pipes.
type Output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

// String is everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// Tail is the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
