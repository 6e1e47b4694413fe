package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// A generated README block: the start marker, the table, the end marker,
// each marker on a line of its own.
const (
	blockStart = "<!-- bench-table: "
	blockEnd   = "<!-- /bench-table -->"
)

// tablesMain is `krbfarm-bench tables`: print the tables, or with -write
// rewrite README.md's blocks from the results files.
func tablesMain(args []string) int {
	fs := flag.NewFlagSet("tables", flag.ContinueOnError)
	root := fs.String("root", ".", "the repository root (where bench/*.json and README.md are)")
	write := fs.Bool("write", false, "rewrite the README's bench-table blocks in place")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	tables, err := generateTables(*root)
	if err == nil && *write {
		err = rewriteReadme(filepath.Join(*root, "README.md"), tables)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tables:", err)
		return 1
	}
	if !*write {
		for _, ts := range benchTables {
			if t, ok := tables[ts.name]; ok {
				fmt.Print(block(ts.name, t), "\n")
			}
		}
	}
	return 0
}

// block is a table between its markers.
func block(name, table string) string {
	return blockStart + name + " -->\n" + table + blockEnd + "\n"
}

// rewriteReadme replaces the README's blocks with tables.
func rewriteReadme(path string, tables map[string]string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := replaceBlocks(string(b), tables)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

// readmeSpan is one block of the README: its name and where its content
// starts and ends.
type readmeSpan struct {
	name       string
	start, end int // content's byte offsets: after the start marker's line, up to the end marker
}

// findBlocks finds every block in text; a marker out of place is an error.
func findBlocks(text string) ([]readmeSpan, error) {
	var (
		out  []readmeSpan
		cur  *readmeSpan
		off  int
		errs []error
	)
	for n, line := range strings.SplitAfter(text, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(t, blockStart) && cur != nil:
			errs = append(errs, fmt.Errorf("line %d: block %q starts inside block %q", n+1, t, cur.name))
		case strings.HasPrefix(t, blockStart):
			name := strings.TrimSuffix(strings.TrimPrefix(t, blockStart), " -->")
			cur = &readmeSpan{name: strings.TrimSpace(name), start: off + len(line)}
		case t == blockEnd && cur == nil:
			errs = append(errs, fmt.Errorf("line %d: %s without a start", n+1, blockEnd))
		case t == blockEnd:
			cur.end = off
			out = append(out, *cur)
			cur = nil
		}
		off += len(line)
	}
	if cur != nil {
		errs = append(errs, fmt.Errorf("block %q has no %s", cur.name, blockEnd))
	}
	return out, errors.Join(errs...)
}

// checkBlocks says what does not match between the README's blocks and
// the tables: a block twice, a block with no table (its results file is
// missing), a table with no block.
func checkBlocks(spans []readmeSpan, tables map[string]string) error {
	var errs []error
	seen := map[string]bool{}
	for _, s := range spans {
		if seen[s.name] {
			errs = append(errs, fmt.Errorf("block %q twice", s.name))
		}
		seen[s.name] = true
		if _, ok := tables[s.name]; !ok {
			errs = append(errs, fmt.Errorf("block %q: no such table, or its results file is missing", s.name))
		}
	}
	for _, ts := range benchTables {
		if _, ok := tables[ts.name]; ok && !seen[ts.name] {
			errs = append(errs, fmt.Errorf("%s exists but the README has no block %q: add %s%s --> and %s where it belongs", ts.file, ts.name, blockStart, ts.name, blockEnd))
		}
	}
	return errors.Join(errs...)
}

// replaceBlocks puts each table between its markers in text.
func replaceBlocks(text string, tables map[string]string) (string, error) {
	spans, err := findBlocks(text)
	if err == nil {
		err = checkBlocks(spans, tables)
	}
	if err != nil {
		return "", err
	}
	slices.Reverse(spans) // from the end, so earlier offsets stay right
	for _, s := range spans {
		text = text[:s.start] + tables[s.name] + text[s.end:]
	}
	return text, nil
}
