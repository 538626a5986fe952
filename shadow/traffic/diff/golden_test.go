package diff

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the want section of testdata/shadow/diff/*.json")

const goldenDir = "../../../testdata/shadow/diff"

// goldenCase is one file of goldenDir: inputs, rules and the expected diffs.
type goldenCase struct {
	Description string       `json:"description"`
	Rules       goldenRules  `json:"rules"`
	Legacy      goldenAnswer `json:"legacy"`
	New         goldenAnswer `json:"new"`
	Want        *goldenWant  `json:"want,omitempty"`
}

type goldenRules struct {
	Ignore           []string `json:"ignore,omitempty"`
	Headers          []string `json:"headers,omitempty"`
	Unordered        []string `json:"unordered,omitempty"`
	NumericTolerance float64  `json:"numeric_tolerance,omitempty"`
	MaxDiffs         int      `json:"max_diffs,omitempty"`
}

// goldenAnswer gives the body as text, as JSON, or base64; truncate_at
// keeps only a prefix in Body while Size and Hash describe the full body.
type goldenAnswer struct {
	Status      int             `json:"status"`
	Header      http.Header     `json:"header,omitempty"`
	ContentType string          `json:"content_type,omitempty"`
	Body        string          `json:"body,omitempty"`
	BodyJSON    json.RawMessage `json:"body_json,omitempty"`
	BodyB64     string          `json:"body_b64,omitempty"`
	TruncateAt  int             `json:"truncate_at,omitempty"`
}

type goldenWant struct {
	Match     bool   `json:"match"`
	Signature string `json:"signature"`
	Diffs     []Diff `json:"diffs"`
}

func (g goldenAnswer) answer(t *testing.T) Answer {
	t.Helper()
	body := []byte(g.Body)
	switch {
	case len(g.BodyJSON) > 0:
		body = []byte(g.BodyJSON)
	case g.BodyB64 != "":
		var err error
		if body, err = base64.StdEncoding.DecodeString(g.BodyB64); err != nil {
			t.Fatalf("body_b64: %v", err)
		}
	}
	a := Answer{Status: g.Status, Header: g.Header, ContentType: g.ContentType,
		Body: body, Size: int64(len(body)), Hash: sha256.Sum256(body)}
	if g.TruncateAt > 0 && g.TruncateAt < len(body) {
		a.Body, a.Truncated = body[:g.TruncateAt], true
	}
	return a
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 15 {
		t.Fatalf("found %d golden cases in %s, want at least 15", len(files), goldenDir)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var gc goldenCase
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&gc); err != nil {
				t.Fatalf("decode %s: %v", file, err)
			}
			c, err := Compile(Rules(gc.Rules))
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			res := c.Compare(gc.Legacy.answer(t), gc.New.answer(t))
			got := &goldenWant{Match: res.Match(), Signature: res.Signature(), Diffs: res.Diffs}
			if got.Diffs == nil {
				got.Diffs = []Diff{}
			}
			if *update {
				gc.Want = got
				var buf bytes.Buffer
				enc := json.NewEncoder(&buf)
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "  ")
				if err := enc.Encode(gc); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if gc.Want == nil {
				t.Fatalf("%s has no want section; run go test -run TestGolden -update", file)
			}
			gotJSON, _ := json.MarshalIndent(got, "", "  ")
			wantJSON, _ := json.MarshalIndent(gc.Want, "", "  ")
			if !bytes.Equal(gotJSON, wantJSON) {
				t.Errorf("result mismatch for %s\ngot:\n%s\nwant:\n%s", file, gotJSON, wantJSON)
			}
		})
	}
}
