package config

import (
	"fmt"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the nodes visited while decoding, counting every alias and
// merge expansion, so that "billion laughs" documents fail fast instead of
// exhausting memory or time.
const maxNodes = 200_000

// loc is where a value sits: its key path and the position of its key (or
// of the list item).
type loc struct {
	path      string
	line, col int
}

var (
	plainKey  = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	listIndex = regexp.MustCompile(`\[[0-9]+\]`)
)

// key is the location of the value under mapping key k named name.
func (l loc) key(name string, k *yaml.Node) loc {
	p := name
	if !plainKey.MatchString(name) {
		p = "[" + strconv.Quote(name) + "]"
	} else if l.path != "" {
		p = "." + name
	}
	return loc{path: l.path + p, line: k.Line, col: k.Column}
}

// index is the location of item i of a list.
func (l loc) index(i int, n *yaml.Node) loc {
	return loc{path: l.path + "[" + strconv.Itoa(i) + "]", line: n.Line, col: n.Column}
}

// decoder walks a yaml.Node tree against the schema, collecting every
// problem instead of stopping at the first.
type decoder struct {
	file      string
	env       func(string) (string, bool)
	root      loc // position of the document's top mapping
	errs      Errors
	warns     Errors              // see Config.Warnings
	reported  map[string]bool     // line:col:msg already reported
	failed    map[string]bool     // paths that have an error
	seen      map[string]loc      // paths present in the file
	fromEnv   map[string]string   // paths whose value used ${VAR}: their raw text
	merging   map[*yaml.Node]bool // mappings being merged, to stop cycles
	nodes     int                 // nodes visited, see maxNodes
	exhausted bool
	// accepted, when not nil, collects the keys each mapping decoded
	// accepts, by path with list indexes written "[]" (see schema_test.go).
	accepted map[string][]string
}

func newDecoder(file string, env func(string) (string, bool)) *decoder {
	return &decoder{
		file:     file,
		env:      env,
		reported: map[string]bool{},
		failed:   map[string]bool{},
		seen:     map[string]loc{},
		fromEnv:  map[string]string{},
		merging:  map[*yaml.Node]bool{},
	}
}

// errorf records a problem at l. The same message at the same position is
// reported once, which matters when an anchored node is used several times.
func (d *decoder) errorf(l loc, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	k := fmt.Sprintf("%d:%d:%s", l.line, l.col, msg)
	d.failed[l.path] = true
	if d.reported[k] {
		return
	}
	d.reported[k] = true
	d.errs = append(d.errs, &Error{File: d.file, Line: l.line, Column: l.col, Path: l.path, Msg: msg})
}

// resolve follows aliases and charges the node budget; it returns nil once
// the budget is spent.
func (d *decoder) resolve(n *yaml.Node, l loc) *yaml.Node {
	if d.exhausted || n == nil {
		return nil
	}
	d.nodes++
	if d.nodes > maxNodes {
		d.exhausted = true
		d.errorf(l, "document too large: more than %d values after expanding aliases", maxNodes)
		return nil
	}
	// The parser resolves every alias to an already-parsed node and YAML
	// does not allow anchoring an alias, so one step is enough.
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n // nil only for a dangling alias, which the parser rejects
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// describe names what was found, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		// A DSN in the wrong place must not be printed with its password.
		return strconv.Quote(maskUserinfo(n.Value))
	}
	return "an unexpected node"
}

// field is a known key of a mapping and how to decode its value.
type field struct {
	name string
	fn   func(v *yaml.Node, l loc)
}

type entry struct {
	key  string
	k, v *yaml.Node
}

// mapping decodes mapping n at l with the given fields, reporting unknown
// and duplicate keys. A null n is an absent section and is not an error.
func (d *decoder) mapping(n *yaml.Node, l loc, fields ...field) {
	n = d.resolve(n, l)
	if n == nil || isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(l, "expected a mapping, got %s", describe(n))
		return
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	if d.accepted != nil {
		d.accepted[listIndex.ReplaceAllString(l.path, "[]")] = names
	}
	for _, e := range d.entries(n, l) {
		kl := l.key(e.key, e.k)
		var fn func(*yaml.Node, loc)
		for _, f := range fields {
			if f.name == e.key {
				fn = f.fn
				break
			}
		}
		if fn == nil {
			d.errorf(kl, "%s", unknownKeyMsg(e.key, names))
			continue
		}
		d.seen[kl.path] = kl
		fn(e.v, kl)
	}
}

// entries returns the key/value pairs of mapping n with merge keys ("<<")
// expanded: explicit keys win over merged ones, earlier merges over later
// ones. Duplicate explicit keys are reported and dropped.
func (d *decoder) entries(n *yaml.Node, l loc) []entry {
	var out []entry
	defined := map[string]*yaml.Node{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := d.resolve(n.Content[i], l)
		if k == nil {
			return out
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(loc{path: l.path, line: k.Line, col: k.Column}, "keys must be strings, got %s", describe(k))
			continue
		}
		if k.Tag == "!!merge" {
			merges = append(merges, n.Content[i+1])
			continue
		}
		if first, dup := defined[k.Value]; dup {
			d.errorf(l.key(k.Value, k), "duplicate key (first defined on line %d)", first.Line)
			continue
		}
		defined[k.Value] = k
		out = append(out, entry{key: k.Value, k: k, v: n.Content[i+1]})
	}
	for _, m := range merges {
		out = d.merge(m, l, defined, out)
	}
	return out
}

// merge appends the entries of merge value m (a mapping or a list of
// mappings) whose keys are not yet defined.
func (d *decoder) merge(m *yaml.Node, l loc, defined map[string]*yaml.Node, out []entry) []entry {
	m = d.resolve(m, l)
	if m == nil {
		return out
	}
	var sources []*yaml.Node
	switch m.Kind {
	case yaml.MappingNode:
		sources = []*yaml.Node{m}
	case yaml.SequenceNode:
		for _, s := range m.Content {
			if s = d.resolve(s, l); s != nil {
				sources = append(sources, s)
			}
		}
	default:
		sources = []*yaml.Node{m}
	}
	for _, s := range sources {
		if s.Kind != yaml.MappingNode {
			d.errorf(loc{path: l.path, line: m.Line, col: m.Column},
				"merge key \"<<\" needs a mapping or a list of mappings, got %s", describe(s))
			continue
		}
		if d.merging[s] {
			d.errorf(loc{path: l.path, line: m.Line, col: m.Column}, "merge key \"<<\" includes the mapping it is in")
			continue
		}
		d.merging[s] = true
		for _, e := range d.entries(s, l) {
			if _, dup := defined[e.key]; !dup {
				defined[e.key] = e.k
				out = append(out, e)
			}
		}
		delete(d.merging, s)
	}
	return out
}

// list calls fn for each item of list n. A null n is absent.
func (d *decoder) list(n *yaml.Node, l loc, fn func(item *yaml.Node, il loc)) {
	n = d.resolve(n, l)
	if n == nil || isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(l, "expected a list, got %s", describe(n))
		return
	}
	for i, item := range n.Content {
		il := l.index(i, item)
		d.seen[il.path] = il
		fn(item, il)
	}
}

// scalar returns the expanded text of scalar n; ok is false when n is null
// (absent) or when a problem was reported. secret keeps the value out of
// error messages.
func (d *decoder) scalar(n *yaml.Node, l loc, want string, secret bool) (text, raw string, ok bool) {
	n = d.resolve(n, l)
	if n == nil || isNull(n) {
		return "", "", false
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(l, "expected %s, got %s", want, describe(n))
		return "", "", false
	}
	text, usedEnv, err := expand(n.Value, d.env, secret)
	if err != nil {
		d.errorf(l, "%v", err)
		return "", "", false
	}
	if !usedEnv {
		return text, text, true
	}
	d.fromEnv[l.path] = n.Value
	return text, n.Value, true
}

// got describes a rejected scalar for an error message. Values that came
// from environment variables are not shown: a secret put into the wrong
// key (type: ${PG_DSN}) must not end up in logs.
func got(text, raw string) string {
	if text == raw {
		return strconv.Quote(text)
	}
	return fmt.Sprintf("the expansion of %q (value not shown)", raw)
}

// show quotes the value decoded at path for a message, unless it came from
// the environment (see got).
func (d *decoder) show(path, value string) string {
	if raw, ok := d.fromEnv[path]; ok {
		return got(value, raw)
	}
	return strconv.Quote(value)
}

// str stores the string value of n in dst, if n is not null.
func (d *decoder) str(n *yaml.Node, l loc, dst *string) bool {
	s, _, ok := d.scalar(n, l, "a string", false)
	if ok {
		*dst = s
	}
	return ok
}

// strs decodes a list of non-empty strings, checking each with check (if
// not nil), which returns a problem description or "".
func (d *decoder) strs(n *yaml.Node, l loc, dst *[]string, check func(string) string) {
	var out []string
	first := map[string]int{}
	i := -1
	d.list(n, l, func(item *yaml.Node, il loc) {
		i++
		s, raw, ok := d.scalar(item, il, "a string", false)
		switch {
		case !ok && !d.failed[il.path]:
			d.errorf(il, "must not be empty")
		case !ok:
		case s == "":
			d.errorf(il, "must not be empty")
		default:
			if check != nil {
				if msg := check(s); msg != "" {
					d.errorf(il, "%s, got %s", msg, got(s, raw))
					return
				}
			}
			if j, dup := first[s]; dup {
				d.errorf(il, "duplicate of item [%d]: %s", j, got(s, raw))
				return
			}
			first[s] = i
			out = append(out, s)
		}
	})
	if out != nil {
		*dst = out
	}
}
