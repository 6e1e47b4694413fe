package labtest_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeQuotesExample: README.md's Go example is example_test.go,
// compiled and run by `go test`, so the two cannot drift.
func TestReadmeQuotesExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## As a Go library\n.*?```go\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md: no ```go block under \"## As a Go library\"")
	}
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, quoted, ok := strings.Cut(string(src), "\nimport (")
	if !ok {
		t.Fatal("example_test.go: no import block")
	}
	if want := "import (" + quoted; string(m[1]) != want {
		t.Errorf("README.md's Go block differs from lab/labtest/example_test.go (from \"import\" on): copy the file into the README\nREADME:\n%s\nfile:\n%s", m[1], want)
	}
}
