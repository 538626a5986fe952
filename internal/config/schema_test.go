package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// Every config key is written three times: in the decoder's field tables
// (decode_*.go), as yaml tags on the types (read by the Redacted dump) and in
// docs/config.md. TestSchemaInSync fails when a key is in one and not in the
// others. Keys are dotted paths from the top, list items written "[]":
// proxy.routes[].match.path_prefix.

// schemaFixtures are loaded with the decoder recording the keys of every
// mapping it decodes. full.yaml holds every section; the others add shapes it
// cannot (full.yaml is reverse mode, so it has no forward-mode keys).
var schemaFixtures = []string{"full.yaml", "minimal.yaml", "config/schema_extra.yaml"}

// tagOnly and decoderOnly are the known, intended differences between the
// yaml tags and the decoder.
var (
	// embedded.sync_interval is one key decoded into two fields (a duration
	// or "always"), both tagged "-"; Embedded.MarshalYAML writes it back.
	decoderOnly = map[string]bool{"nats.embedded.sync_interval": true}
	tagOnly     = map[string]bool{}
)

func TestSchemaInSync(t *testing.T) {
	decoded := decoderKeys(t)
	tagged := tagKeys(reflect.TypeOf(Config{}), "", map[string]bool{})
	documented := docKeys(t, filepath.Join("..", "..", "docs", "config.md"), decoded)

	// The fixtures must reach the deepest mappings.
	for _, k := range []string{"proxy.timeouts.client_body", "nats.embedded.auth.users[].password",
		"shadow.redact.json_keys", "proxy.forward.allow[].ports", "proxy.routes[].rollout.steps"} {
		if !decoded[k] {
			t.Errorf("the fixtures do not reach %s", k)
		}
	}
	// Comparing with the tags also checks that every tagged struct was
	// decoded by a fixture, or its keys would be missing from decoded
	// without any complaint.
	keyDiff(t, "accepted by the decoder", decoded, "tagged on the types", tagged, decoderOnly, tagOnly)
	keyDiff(t, "accepted by the decoder", decoded, "documented in docs/config.md", documented, nil, nil)
}

// keyDiff reports the keys in one set and not the other, except the allowed ones.
func keyDiff(t *testing.T, aName string, a map[string]bool, bName string, b map[string]bool, aOnly, bOnly map[string]bool) {
	t.Helper()
	var missing []string
	for k := range a {
		if !b[k] && !aOnly[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	for _, k := range missing {
		t.Errorf("%s is %s but not %s", k, aName, bName)
	}
	missing = missing[:0]
	for k := range b {
		if !a[k] && !bOnly[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	for _, k := range missing {
		t.Errorf("%s is %s but not %s", k, bName, aName)
	}
}

// decoderKeys loads the fixtures with the decoder recording the keys each
// mapping accepts (whether the fixture uses them or not).
func decoderKeys(t *testing.T) map[string]bool {
	keys := map[string]bool{}
	for _, f := range schemaFixtures {
		data, err := os.ReadFile(filepath.Join(testdataDir, f))
		if err != nil {
			t.Fatal(err)
		}
		root, errs := parse(f, data)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		d := newDecoder(f, lookup(testEnv))
		d.accepted = map[string][]string{}
		d.config(root, loc{line: root.Line, col: root.Column}, Default())
		if len(d.errs) > 0 {
			t.Fatalf("%s: %v", f, d.errs)
		}
		for path, names := range d.accepted {
			for _, n := range names {
				keys[join(path, n)] = true
			}
		}
	}
	return keys
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// tagKeys returns the paths of the yaml tags reachable from struct type typ.
func tagKeys(typ reflect.Type, path string, keys map[string]bool) map[string]bool {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if typ.Kind() != reflect.Struct {
		return keys
	}
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		tag, ok := f.Tag.Lookup("yaml")
		if !ok || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			tagKeys(f.Type, path, keys)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		p := join(path, name)
		keys[p] = true
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			tagKeys(ft.Elem(), p+"[]", keys)
		} else {
			tagKeys(ft, p, keys)
		}
	}
	return keys
}

var (
	docHeading = regexp.MustCompile("^#+ (.*)$")
	docSection = regexp.MustCompile("^`([a-z0-9_.\\[\\]]+)`$")
	docCode    = regexp.MustCompile("`([^`]*)`")
)

// docKeys returns the keys of the tables of docs/config.md: a table under a
// heading that is a key path (## `proxy`, ### `proxy.routes[]`) lists, in the
// first column of each row, keys relative to it (`timeouts.connect`). A row
// may name several: `legacy`, `new` or `timeouts.connect` / `.idle`.
// Parents of a documented key count as documented. The heading of a list
// (## `plugins`) holds the keys of its items: lists tells which are lists.
func docKeys(t *testing.T, file string, lists map[string]bool) map[string]bool {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	add := func(p string) {
		for {
			keys[p] = true
			i := strings.LastIndexByte(p, '.')
			if i < 0 {
				return
			}
			p = strings.TrimSuffix(p[:i], "[]")
		}
	}
	section := ""
	for _, line := range strings.Split(string(data), "\n") {
		if m := docHeading.FindStringSubmatch(line); m != nil {
			section = ""
			if s := docSection.FindStringSubmatch(m[1]); s != nil {
				section = s[1]
				if !strings.HasSuffix(section, "[]") && hasPrefix(lists, section+"[].") {
					section += "[]"
				}
			}
			continue
		}
		if section == "" || !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.Split(line, "|")[1]
		var full string
		for _, c := range docCode.FindAllStringSubmatch(first, -1) {
			k := c[1]
			if strings.HasPrefix(k, ".") && full != "" {
				// `timeouts.connect` / `.idle`: replace the last part.
				k = full[:strings.LastIndexByte(full, '.')] + k
			} else {
				full = k
			}
			if k == strings.TrimSuffix(section, "[]") {
				add(k) // a top-level scalar documented as itself (data_dir)
			} else {
				add(section + "." + k)
			}
		}
	}
	return keys
}

// hasPrefix reports whether a key in keys starts with prefix.
func hasPrefix(keys map[string]bool, prefix string) bool {
	for k := range keys {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}
