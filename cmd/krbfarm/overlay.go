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
// errors.Join of them, as Validate returns, or a renamer) to name the flag,
// "--listen: ...", when that flag was given or there is no file; a field
// the file set keeps its path, after the file's name. Other errors pass
// unchanged.
func (m flagFor) explain(err error, fs *pflag.FlagSet, file string) error {
	return rename(err, m.namer(fs, file))
}

// renamer is a library error other than *config.FieldError that names
// config fields (lab.PortInUseError, kdc.MissingToolsError,
// doctor.CouldNotRunError): Rename returns it naming each as name says.
type renamer interface {
	error
	Rename(name func(field string) string) error
}

// rename rewrites every field err names with name.
func rename(err error, name func(string) string) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var errs []error
		for _, e := range j.Unwrap() {
			errs = append(errs, rename(e, name))
		}
		return errors.Join(errs...)
	}
	if fe, ok := err.(*config.FieldError); ok {
		return &config.FieldError{Path: name(fe.Path), Err: fe.Err}
	}
	var r renamer
	if !errors.As(err, &r) {
		return err
	}
	if err == error(r) {
		return r.Rename(name)
	}
	// Wrapped ("start: %w"): the same words around the renamed error.
	msg := strings.Replace(err.Error(), r.Error(), r.Rename(name).Error(), 1)
	return &renamed{msg: msg, err: err}
}

// renamed is a wrapped renamer's message, rewritten; errors.As still
// finds what it wraps.
type renamed struct {
	msg string
	err error
}

func (e *renamed) Error() string { return e.msg }
func (e *renamed) Unwrap() error { return e.err }

// namer says how to name a field: "--listen" when its flag was given or
// there is no file ("--backend (backends[1].addr)" when the flag sets more
// than the field); else "FILE: path"; else the path.
func (m flagFor) namer(fs *pflag.FlagSet, file string) func(string) string {
	return func(path string) string {
		flag, ok := m.lookup(path)
		switch {
		case ok && (file == "" || fs.Changed(flag)): // fs may be nil without a file
			name := "--" + flag
			if m[path] != flag {
				name += " (" + path + ")"
			}
			return name
		case file != "":
			return file + ": " + path
		}
		return path
	}
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
