// Package config is what lb and backend share to read their YAML: one
// strict decoder (unknown keys are errors naming the key and its line) and
// one error type naming a field by its YAML path, so that every Validate
// reports all its errors at once, joined, each with its path, and cmd can
// name the flag that set a field instead.
//
//	var c Config
//	if err := config.Decode(r, &c); err != nil { ... }
//	errs = append(errs, config.Errorf("backends[1].addr", "%q: port 0 cannot be dialled", a))
//	return errors.Join(errs...)
package config

import (
	"errors"
	"fmt"
	"io"
	"regexp"

	"gopkg.in/yaml.v3"
)

// Decode reads one YAML document from r into v. Unknown keys are errors
// ("line 3: unknown key \"keytabs\""); an empty document leaves v as it is.
func Decode(r io.Reader, v any) error {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	errs := make([]error, len(te.Errors))
	for i, e := range te.Errors {
		errs[i] = errors.New(unknownKey.ReplaceAllString(e, `line $1: unknown key "$2"`))
	}
	return errors.Join(errs...)
}

// unknownKey is yaml.v3's text for a key KnownFields refuses, parsed here
// once.
var unknownKey = regexp.MustCompile(`^line (\d+): field (\S+) not found in type .*$`)

// FieldError is one wrong config field: Path is its YAML path, e.g.
// "backends[1].addr" or "health.interval".
type FieldError struct {
	Path string
	Err  error
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Err.Error() }

func (e *FieldError) Unwrap() error { return e.Err }

// Errorf returns a *FieldError for path with a formatted message.
func Errorf(path, format string, args ...any) error {
	return &FieldError{Path: path, Err: fmt.Errorf(format, args...)}
}
