package config

import (
	"errors"
	"strings"
	"testing"
)

type doc struct {
	Name  string `yaml:"name"`
	Inner struct {
		Port int `yaml:"port"`
	} `yaml:"inner"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string // substrings of the error; nil = no error
	}{
		{"good", "name: a\ninner: {port: 1}\n", nil},
		{"empty", "", nil},
		{"unknown key", "name: a\nnmae: b\n", []string{`line 2: unknown key "nmae"`}},
		{"unknown keys, nested too", "nmae: b\ninner:\n  prot: 1\n", []string{`line 1: unknown key "nmae"`, `line 3: unknown key "prot"`}},
		{"wrong type", "inner: {port: x}\n", []string{"line 1", "cannot unmarshal"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d doc
			err := Decode(strings.NewReader(tt.src), &d)
			if tt.want == nil {
				if err != nil {
					t.Errorf("Decode: %v; want nil", err)
				}
				return
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Decode: %v; want an error containing %q", err, w)
				}
			}
		})
	}
}

func TestFieldError(t *testing.T) {
	err := errors.Join(Errorf("listen", "bad"), Errorf("backends[1].addr", "worse"))
	if got, want := err.Error(), "listen: bad\nbackends[1].addr: worse"; got != want {
		t.Errorf("got %q; want %q", got, want)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "listen" {
		t.Errorf("errors.As: %+v; want the listen FieldError", fe)
	}
}
