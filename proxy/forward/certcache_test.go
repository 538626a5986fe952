package forward

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCertCacheLRU(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newCertCache(2)
	c.now = func() time.Time { return now }
	var minted []string
	gen := func(host string) func() (*tls.Certificate, error) {
		return func() (*tls.Certificate, error) {
			minted = append(minted, host)
			return &tls.Certificate{Leaf: &x509.Certificate{NotAfter: now.Add(leafLifetime)}}, nil
		}
	}
	steps := []struct {
		host     string
		advance  time.Duration
		wantMint bool
	}{
		{"a", 0, true},
		{"b", 0, true},
		{"a", 0, false}, // hit; a becomes most recent
		{"c", 0, true},  // evicts b, the least recently used
		{"a", 0, false},
		{"b", 0, true}, // was evicted; evicts c
		{"a", leafLifetime - renewBefore/2, true}, // near expiry: re-minted
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		before := len(minted)
		cert, err := c.Fetch(s.host, gen(s.host))
		if err != nil || cert == nil {
			t.Fatalf("step %d: Fetch(%q) = %v, %v", i, s.host, cert, err)
		}
		if got := len(minted) > before; got != s.wantMint {
			t.Errorf("step %d: Fetch(%q) minted=%v, want %v", i, s.host, got, s.wantMint)
		}
		if c.Len() > 2 {
			t.Fatalf("step %d: cache holds %d entries, bound is 2", i, c.Len())
		}
	}
	boom := errors.New("boom")
	if _, err := c.Fetch("d", func() (*tls.Certificate, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("generation error not returned: %v", err)
	}
	if _, err := c.Fetch("d", gen("d")); err != nil {
		t.Errorf("a failed generation was cached: %v", err)
	}
}

// TestBundledCANeverReferenced guards the rule that goproxy's bundled CA,
// whose private key is public, is never used: not directly and not through
// the ready-made actions that embed it.
func TestBundledCANeverReferenced(t *testing.T) {
	banned := map[string]bool{
		"GoproxyCa": true, "CA_CERT": true, "CA_KEY": true, "TLSConfigFromCA": true,
		"OkConnect": true, "MitmConnect": true, "HTTPMitmConnect": true, "RejectConnect": true,
		"AlwaysMitm": true, "AlwaysReject": true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(af, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == "goproxy" && banned[sel.Sel.Name] {
					t.Errorf("%s uses goproxy.%s", f, sel.Sel.Name)
				}
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no source files checked")
	}
}
