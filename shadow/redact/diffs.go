package redact

import (
	"encoding/json"
	"strings"

	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
)

// truncMark ends a diff value the diff engine cut.
const truncMark = diff.TruncMark

// Diffs writes down differences found between the raw answers. The engine
// compares raw values, so a secret that differs between the sides is still
// a difference; here both of its values are hashed with the same key, which
// keeps "equal" and "different" readable without the values:
//
//   - a path through a secret key ($.user.password, header:Set-Cookie) has
//     both values hashed whole, as the recorded body or header shows them;
//   - any other value has secret keys inside it hashed, its strings scanned
//     like free text (body:line:2 "password=hunter2") and cleared of every
//     remembered secret, and is hashed whole when it is exactly one;
//   - the digest of a body compared by hash is keyed too, since a plain
//     SHA-256 of a short body is as good as the body;
//   - paths are cleared of remembered secrets (a map keyed by token).
func (x *Exchange) Diffs(ds []diff.Diff) []diff.Diff {
	if len(ds) == 0 {
		return ds
	}
	out := make([]diff.Diff, len(ds))
	for i, d := range ds {
		whole := x.secretPath(d.Path)
		digest := d.Path == "body" && (d.Kind == diff.KindHash || d.Kind == diff.KindLength)
		d.Legacy = x.diffValue(d.Legacy, whole, digest)
		d.New = x.diffValue(d.New, whole, digest)
		d.Path = x.Text(d.Path)
		out[i] = d
	}
	return out
}

func (x *Exchange) secretPath(p string) bool {
	if name, ok := strings.CutPrefix(p, "header:"); ok {
		return x.r.SecretHeader(name)
	}
	keys, ok := diff.PathKeys(p)
	if !ok {
		// Not a JSON path; one that starts like one but does not parse
		// is not trusted.
		return strings.HasPrefix(p, "$")
	}
	for _, k := range keys {
		if x.r.SecretJSONKey(k) {
			return true
		}
	}
	return false
}

func (x *Exchange) diffValue(m json.RawMessage, whole, digest bool) json.RawMessage {
	if len(m) == 0 {
		return m
	}
	v, ok := decodeJSON(m)
	switch {
	case !ok:
		return quoted(x.r.Mark(string(m)))
	case v == nil:
		return m
	case whole:
		s, isString := v.(string)
		if !isString {
			return quoted(x.secretJSON(v))
		}
		if head, cut := strings.CutSuffix(s, truncMark); cut {
			// A prefix hashes unlike the whole value: say so.
			return quoted(x.mark(head) + truncMark)
		}
		return quoted(x.mark(s))
	case digest:
		if h, ok := v.(map[string]any); ok {
			if sum, ok := h["sha256"].(string); ok {
				h["sha256"] = x.r.Mark(sum)
				return json.RawMessage(encodeJSON(h))
			}
		}
		return m
	}
	before := x.changes
	v = x.echoes(x.jsonValue(v), true)
	if x.changes == before {
		return m
	}
	return json.RawMessage(encodeJSON(v))
}

func quoted(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}
