package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"go.yaml.in/yaml/v3"
)

// Load reads, expands, defaults and validates the config file at path.
// env looks up environment variables for ${VAR} references; nil means
// os.LookupEnv. On any problem the error is an Errors value listing every
// problem found, each positioned as "file:line:column: path: message" with
// the file name as given.
func Load(path string, env func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		cause := err
		var pe *fs.PathError
		if errors.As(err, &pe) {
			cause = pe.Err
		}
		return nil, Errors{{File: path, Msg: "cannot read config: " + cause.Error(), cause: err}}
	}
	return LoadBytes(path, data, env)
}

// LoadBytes is Load for a config already in memory; name is used in error
// messages and returned by Config.Path.
func LoadBytes(name string, data []byte, env func(string) (string, bool)) (*Config, error) {
	if env == nil {
		env = os.LookupEnv
	}
	root, errs := parse(name, data)
	if len(errs) > 0 {
		return nil, errs
	}
	c := Default()
	c.file = name
	d := newDecoder(name, env)
	if root != nil {
		d.root = loc{line: root.Line, col: root.Column}
		d.config(root, d.root, c)
	}
	if !d.exhausted {
		// Decoding stopped part-way; cross-checks would only add noise.
		d.validate(c)
	}
	if len(d.errs) > 0 {
		d.errs.sort()
		return nil, d.errs
	}
	d.warns.sort()
	c.warnings = d.warns
	return c, nil
}

// parse returns the root node of the single YAML document in data, or nil
// for an empty document.
func parse(name string, data []byte) (root *yaml.Node, errs Errors) {
	defer func() {
		// yaml.v3 panics on a few inputs it considers internal errors;
		// a config loader must not take the process down with it.
		if r := recover(); r != nil {
			root, errs = nil, Errors{{File: name, Msg: fmt.Sprintf("yaml: cannot parse: %v", r)}}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(name, data, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, syntaxError(name, data, err)
	default:
		return nil, Errors{{File: name, Line: next.Line, Column: next.Column,
			Msg: "yaml: only one document is allowed, found a second one"}}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}
