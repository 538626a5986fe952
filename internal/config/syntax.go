package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Positions of YAML syntax errors.
//
// The library's only report of a syntax error is its message, "yaml: line N:
// problem", and N is not the line of the problem (go.yaml.in/yaml/v3 v3.0.6,
// decode.go, parser.fail, unchanged from gopkg.in/yaml.v3):
//
//   - N is the line of the *context* mark when there is one (the start of the
//     flow collection, quoted or plain scalar, block mapping being read), else
//     of the problem mark;
//   - marks count lines from 0 and only scanner errors add 1, so N is the
//     1-based line for scanner errors but one less for parser errors;
//   - a mark on line 0 counts as "no mark", so an error whose context is on
//     the first line is reported at the problem's line, or without any line.
//
// The loader therefore parses the input again with one newline prepended:
// no mark can then be on line 0, and N is exactly the 1-based line of the
// context mark for parser errors and that line plus one for scanner errors
// (parserProblems tells them apart). The column is not in the message at all;
// it is found in the source per problem (see syntaxPosition).

var (
	yamlLine      = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	unknownAnchor = regexp.MustCompile(`^yaml: unknown anchor '(.*)' referenced$`)
)

// parserProblems are the messages of the library's parser errors (parserc.go,
// yaml_parser_set_parser_error*); every other positioned message comes from
// its scanner.
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"found undefined tag handle":             true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

// syntaxError turns the library's "yaml: line N: msg" into
// file:line:column: yaml: msg at the true position of the problem.
func syntaxError(name string, data []byte, err error) Errors {
	msg := err.Error()
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		line, col := locateSyntaxError(data, msg)
		return Errors{{File: name, Line: line, Column: col, Msg: msg, cause: err}}
	}
	line, col := syntaxPosition(data, m[2])
	if line == 0 {
		// The second parse disagreed with the first; keep the library's line.
		line, _ = strconv.Atoi(m[1])
	}
	return Errors{{File: name, Line: line, Column: col, Msg: "yaml: " + m[2], cause: err}}
}

// syntaxPosition returns the 1-based line and column (0 when unknown) of a
// positioned syntax error whose message is problem.
func syntaxPosition(data []byte, problem string) (line, col int) {
	line = markLine(data, problem)
	if line == 0 {
		return 0, 0
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	if n := len(lines); n > 0 && len(lines[n-1]) == 0 {
		lines = lines[:n-1]
	}
	if line > len(lines) {
		// The mark is the end of the input, past the last line.
		return len(lines), 0
	}
	text := bytes.TrimRight(lines[line-1], "\r\n")
	switch problem {
	case "found a tab character that violates indentation",
		"found a tab character where an indentation space is expected":
		// The context is the start of the scalar being read, possibly lines
		// above; the problem is the first tab in an indentation after it.
		for i := line - 1; i < len(lines); i++ {
			indent := lines[i][:len(lines[i])-len(bytes.TrimLeft(lines[i], " \t"))]
			if j := bytes.IndexByte(indent, '\t'); j >= 0 {
				return i + 1, j + 1
			}
		}
		return line, 0
	case "did not find expected ',' or '}'":
		return line, unclosedOpener(text, '{')
	case "did not find expected ',' or ']'":
		return line, unclosedOpener(text, '[')
	case "did not find expected key", "did not find expected '-' indicator":
		// The context is the start of the block collection, often far above
		// the mistake: the problem is on the first line that, read up to its
		// end, makes the parser stop the same way (the badly indented key or
		// dash), at its first non-blank character.
		if len(data) > 1<<18 || len(lines) > 2000 {
			return line, 0
		}
		end := 0
		for i, l := range lines {
			end += len(l)
			if i+1 < line {
				continue
			}
			if markLine(data[:end], problem) == line {
				text := bytes.TrimRight(l, "\r\n")
				rest := bytes.TrimLeft(text, " ")
				if len(rest) == 0 {
					return i + 1, 0
				}
				return i + 1, runeColumn(text, len(text)-len(rest))
			}
		}
		return line, 0
	}
	if parserProblems[problem] {
		return line, 0
	}
	start := 0
	for _, l := range lines[:line-1] {
		start += len(l)
	}
	return line, scannerColumn(data, start, text, line, problem)
}

// markLine reparses data after a newline and returns the 1-based line of the
// library's mark for problem, or 0 if the second parse reports something else.
func markLine(data []byte, problem string) int {
	bom := []byte("\xef\xbb\xbf")
	if bytes.HasPrefix(data, []byte("\xff\xfe")) || bytes.HasPrefix(data, []byte("\xfe\xff")) {
		return 0 // UTF-16: a one-byte newline would break the encoding
	}
	shifted := make([]byte, 0, len(data)+1)
	if bytes.HasPrefix(data, bom) {
		// The byte order mark must stay first.
		shifted = append(shifted, bom...)
		data = data[len(bom):]
	}
	shifted = append(append(shifted, '\n'), data...)
	m := yamlLine.FindStringSubmatch(errString(decodeAll(shifted)))
	if m == nil || m[2] != problem {
		return 0
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return 0
	}
	if !parserProblems[problem] {
		n--
	}
	return n
}

// scannerColumn finds the column of a scanner error on line (text, starting
// at byte offset start of data): the library's mark is the end of the
// shortest prefix of data that makes the scanner stop with the same problem
// on the same line (the offending character, or the opening quote of an
// unterminated string). It gives up on long lines and files rather than
// reparse them many times.
func scannerColumn(data []byte, start int, text []byte, line int, problem string) int {
	if len(text) > 512 || len(data) > 1<<18 {
		return 0
	}
	for i, r := range string(text) {
		end := start + i + utf8.RuneLen(r)
		if r == utf8.RuneError {
			end = start + i + 1
		}
		if markLine(data[:end], problem) == line {
			return runeColumn(text, i)
		}
	}
	return 0
}

// unclosedOpener returns the 1-based column of the last open bracket on
// line that the line does not close, or 0. Quoted strings and comments are
// skipped.
func unclosedOpener(line []byte, open byte) int {
	var stack []int
	var quote byte
scan:
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote == '"':
			switch c {
			case '\\':
				i++
			case '"':
				quote = 0
			}
		case quote == '\'':
			if c == '\'' {
				if i+1 < len(line) && line[i+1] == '\'' {
					i++
				} else {
					quote = 0
				}
			}
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			break scan
		case (c == '"' || c == '\'') && (i == 0 || strings.IndexByte(" \t:,[{", line[i-1]) >= 0):
			quote = c
		case c == '{' || c == '[':
			stack = append(stack, i)
		case (c == '}' && len(stack) > 0 && line[stack[len(stack)-1]] == '{') ||
			(c == ']' && len(stack) > 0 && line[stack[len(stack)-1]] == '['):
			stack = stack[:len(stack)-1]
		}
	}
	for j := len(stack) - 1; j >= 0; j-- {
		if line[stack[j]] == open {
			return runeColumn(line, stack[j])
		}
	}
	return 0
}

// runeColumn is the 1-based column, in characters as the library counts
// them, of byte offset off in line.
func runeColumn(line []byte, off int) int {
	return utf8.RuneCount(line[:off]) + 1
}

// decodeAll parses every document in data as parse does and returns the
// first error, recovering from the library's panics.
func decodeAll(data []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: cannot parse: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// locateSyntaxError returns the position of an error the library reported
// without a line, or 0, 0 when it cannot tell.
func locateSyntaxError(data []byte, msg string) (line, col int) {
	at := func(off int) (int, int) {
		ls := bytes.LastIndexByte(data[:off], '\n') + 1
		return 1 + bytes.Count(data[:off], []byte("\n")), runeColumn(data[ls:], off-ls)
	}
	if m := unknownAnchor.FindStringSubmatch(msg); m != nil {
		if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
			return at(i)
		}
		return 0, 0
	}
	if strings.Contains(msg, "UTF") || strings.Contains(msg, "surrogate") || strings.Contains(msg, "Unicode") || strings.Contains(msg, "control characters") {
		for off := 0; off < len(data); {
			r, size := utf8.DecodeRune(data[off:])
			if (r == utf8.RuneError && size == 1) || !yamlPrintable(r) {
				return at(off)
			}
			off += size
		}
		return 0, 0
	}
	if strings.HasPrefix(msg, "yaml: input error") {
		return 0, 0
	}
	// Scanner and parser errors always carry a position; the library drops
	// it only when it is on the first line (line index 0).
	return 1, 0
}

// yamlPrintable is the YAML 1.2 c-printable set, as the library checks it.
func yamlPrintable(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || (r >= 0x20 && r <= 0x7E) || r == 0x85 ||
		(r >= 0xA0 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}
