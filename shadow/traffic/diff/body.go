package diff

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"mime"
	"strconv"
	"strings"
)

type bodyKind int

const (
	bodyBytes bodyKind = iota
	bodyJSON
	bodyText
)

// kindOf dispatches on the media type: application/json and
// application/*+json are JSON, text/* is text, anything else is bytes.
func kindOf(a Answer) bodyKind {
	ct := a.ContentType
	if ct == "" {
		ct = a.Header.Get("Content-Type")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt, _, _ = strings.Cut(ct, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
	}
	switch {
	case mt == "application/json", strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"):
		return bodyJSON
	case strings.HasPrefix(mt, "text/"):
		return bodyText
	}
	return bodyBytes
}

func (c *Comparator) compareBody(col *collector, a, b Answer) {
	if a.Truncated || b.Truncated {
		// A prefix cannot be parsed or diffed meaningfully.
		compareHash(col, a, b)
		return
	}
	if bytes.Equal(a.Body, b.Body) {
		return
	}
	ka, kb := kindOf(a), kindOf(b)
	switch {
	case ka == bodyJSON && kb == bodyJSON:
		c.compareJSON(col, a.Body, b.Body)
	case ka == bodyText && kb == bodyText:
		compareText(col, a.Body, b.Body)
	default:
		compareHash(col, a, b)
	}
}

// sizeHash returns the full-body size and hash, derived from Body when the
// caller did not fill them in for an untruncated body.
func sizeHash(a Answer) (int64, [32]byte) {
	size, sum := a.Size, a.Hash
	if !a.Truncated {
		if size == 0 {
			size = int64(len(a.Body))
		}
		if sum == ([32]byte{}) {
			sum = sha256.Sum256(a.Body)
		}
	}
	return size, sum
}

func compareHash(col *collector, a, b Answer) {
	sa, ha := sizeHash(a)
	sb, hb := sizeHash(b)
	if sa == sb && ha == hb {
		return
	}
	kind := KindHash
	if sa != sb {
		kind = KindLength
	}
	col.add(Diff{Path: "body", Kind: kind, Legacy: sizeHashValue(sa, ha), New: sizeHashValue(sb, hb)})
}

func sizeHashValue(size int64, sum [32]byte) json.RawMessage {
	b := append([]byte(`{"size":`), strconv.FormatInt(size, 10)...)
	b = append(b, `,"sha256":"`...)
	b = hex.AppendEncode(b, sum[:])
	return append(b, `"}`...)
}

// compareText reports differing lines (1-based) at the same positions; it
// is deliberately not an LCS diff, so an inserted line shows as every
// following line differing, up to the diff cap.
func compareText(col *collector, a, b []byte) {
	la, lb := splitLines(a), splitLines(b)
	for i := 0; i < max(len(la), len(lb)); i++ {
		path := "body:line:" + strconv.Itoa(i+1)
		switch {
		case i >= len(lb):
			col.add(Diff{Path: path, Kind: KindMissing, Legacy: stringValue(la[i])})
		case i >= len(la):
			col.add(Diff{Path: path, Kind: KindExtra, New: stringValue(lb[i])})
		case la[i] != lb[i]:
			col.add(Diff{Path: path, Kind: KindValue, Legacy: stringValue(la[i]), New: stringValue(lb[i])})
		default:
			continue
		}
		if col.truncated {
			return
		}
	}
}

func splitLines(b []byte) []string {
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}
