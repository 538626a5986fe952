package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
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

var (
	yamlLine      = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	unknownAnchor = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)
)

// syntaxError turns "yaml: line 7: msg" into file:7: yaml: msg. yaml.v3
// leaves the line out when it is the first one and for a few errors it
// has no position for; those are located here where possible.
func syntaxError(name string, data []byte, err error) Errors {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		if line, aerr := strconv.Atoi(m[1]); aerr == nil {
			return Errors{{File: name, Line: line, Msg: "yaml: " + m[2], cause: err}}
		}
	}
	return Errors{{File: name, Line: locateSyntaxError(data, msg), Msg: msg, cause: err}}
}

// locateSyntaxError returns the line of an error yaml.v3 reported without
// one, or 0 when it cannot tell.
func locateSyntaxError(data []byte, msg string) int {
	lineAt := func(off int) int { return 1 + bytes.Count(data[:off], []byte("\n")) }
	if m := unknownAnchor.FindStringSubmatch(msg); m != nil {
		if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
			return lineAt(i)
		}
		return 0
	}
	if strings.Contains(msg, "UTF") || strings.Contains(msg, "surrogate") || strings.Contains(msg, "Unicode") || strings.Contains(msg, "control characters") {
		for off := 0; off < len(data); {
			r, size := utf8.DecodeRune(data[off:])
			if (r == utf8.RuneError && size == 1) || !yamlPrintable(r) {
				return lineAt(off)
			}
			off += size
		}
		return 0
	}
	if strings.HasPrefix(msg, "yaml: input error") {
		return 0
	}
	// Scanner and parser errors always carry a position; yaml.v3 drops it
	// only when it is on the first line (line index 0).
	return 1
}

// yamlPrintable is the YAML 1.2 c-printable set, as yaml.v3 checks it.
func yamlPrintable(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || (r >= 0x20 && r <= 0x7E) || r == 0x85 ||
		(r >= 0xA0 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}
