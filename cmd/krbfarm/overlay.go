package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"github.com/spf13/pflag"

	"github.com/krbfarm/krbfarm/internal/config"
)

// overlay lays one flag over a config read from a file, the same way for
// every command: a flag given on the command line wins over the file; a
// flag not given never overwrites the file. Where the file leaves the
// field at its zero value, the flag's default (val, when not given) fills
// it, so a command's own defaults apply only where neither says anything.
func overlay[T any](fs *pflag.FlagSet, name string, dst *T, val T) {
	if fs.Changed(name) || reflect.ValueOf(dst).Elem().IsZero() {
		*dst = val
	}
}

// readConfig decodes the YAML file at path with decode (lb.DecodeConfig,
// backend.DecodeConfig): strictly, and not validated yet, so that flags
// are laid over it before Validate.
func readConfig[T any](path string, decode func(io.Reader) (T, error)) (T, error) {
	var zero T
	f, err := os.Open(path)
	if err != nil {
		return zero, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	c, err := decode(f)
	if err != nil {
		return zero, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// flagFor maps, for one command, a config field's YAML path to the flag
// that sets it: the one place library errors, which name fields, are
// turned into the CLI's words. A path not listed is looked up by its first
// element ("backends[1].addr" by "backends").
type flagFor map[string]string

// explain rewrites the field errors in err (a *config.FieldError or
// errors.Join of them, as Validate returns) to name the flag, "--listen:
// ...", when that flag was given or there is no file; a field the file
// set keeps its path, after the file's name. Other errors pass unchanged.
func (m flagFor) explain(err error, fs *pflag.FlagSet, file string) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var errs []error
		for _, e := range j.Unwrap() {
			errs = append(errs, m.explain(e, fs, file))
		}
		return errors.Join(errs...)
	}
	fe, ok := err.(*config.FieldError)
	if !ok {
		return err
	}
	flag, ok := m.lookup(fe.Path)
	switch {
	case ok && (fs.Changed(flag) || file == ""):
		name := "--" + flag
		if m[fe.Path] != flag {
			name += " (" + fe.Path + ")"
		}
		return &config.FieldError{Path: name, Err: fe.Err}
	case file != "":
		return &config.FieldError{Path: file + ": " + fe.Path, Err: fe.Err}
	}
	return err
}

func (m flagFor) lookup(path string) (string, bool) {
	if f, ok := m[path]; ok {
		return f, true
	}
	root, _, _ := strings.Cut(path, ".")
	root, _, _ = strings.Cut(root, "[")
	f, ok := m[root]
	return f, ok
}
