package config

import (
	"fmt"
	"strings"
)

// expandError is a problem with a ${...} reference. Its message never
// contains the value being expanded, only the variable name (and for secret
// fields not even that when the name itself is malformed).
type expandError struct {
	name   string // the variable, when the reference is well-formed
	unset  bool
	detail string // for malformed references
}

func (e *expandError) Error() string {
	if e.unset {
		return fmt.Sprintf("environment variable %s is not set", e.name)
	}
	return e.detail
}

// expand replaces ${VAR} and ${VAR:-default} in s with values from env and
// "$$" with "$". A "$" followed by anything else is kept as is. Defaults are
// literal text (no nested references) running up to the first "}". As in
// the shell, ":-" also applies when VAR is set but empty. secret suppresses
// the malformed reference's text in errors. usedEnv reports whether any
// reference was replaced.
func expand(s string, env func(string) (string, bool), secret bool) (out string, usedEnv bool, err error) {
	if !strings.Contains(s, "$") {
		return s, false, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", false, &expandError{detail: `unterminated "${" (write "$$" for a literal "$")`}
		}
		ref := s[i+2 : i+2+end]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validVarName(name) {
			if secret || len(name) > 64 {
				return "", false, &expandError{detail: `invalid variable name in "${...}" (write "$$" for a literal "$")`}
			}
			return "", false, &expandError{detail: fmt.Sprintf(`invalid variable name %q in "${...}" (write "$$" for a literal "$")`, name)}
		}
		v, ok := env(name)
		switch {
		case hasDef && v == "":
			v = def
		case !ok:
			return "", false, &expandError{name: name, unset: true}
		}
		b.WriteString(v)
		usedEnv = true
		i += 2 + end
	}
	return b.String(), usedEnv, nil
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
