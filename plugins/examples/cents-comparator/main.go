// Command cents-comparator is an example ficus comparator plugin for a
// migration where the legacy service answers prices in integer cents
// ({"price_cents": 1234}) and the new one in decimals ({"price": 12.34}).
// It rewrites both JSON answers to one form (decimal with two places, under
// the name without _cents) and leaves the diff to ficus, so only real
// differences remain. Non-JSON answers pass unchanged.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/big"
	"strings"

	"github.com/ficus-migrate/ficus/plugins/sdk"
)

type cents struct{}

func (cents) Compare(_ context.Context, pairs []sdk.Pair) ([]sdk.Result, error) {
	out := make([]sdk.Result, len(pairs))
	for i, p := range pairs {
		p.Legacy.Body = normalize(p.Legacy.Body)
		p.New.Body = normalize(p.New.Body)
		out[i] = sdk.Result{Pair: p, Verdict: sdk.VerdictDiff}
	}
	return out, nil
}

// normalize returns body rewritten, or body itself when it is not JSON.
func normalize(body []byte) []byte {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return body
	}
	b, err := json.Marshal(walk(v))
	if err != nil {
		return body
	}
	return b
}

func walk(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			if name, ok := strings.CutSuffix(k, "_cents"); ok {
				if n, ok := x.(json.Number); ok {
					if r, ok := new(big.Rat).SetString(n.String()); ok {
						out[name] = json.Number(r.Quo(r, big.NewRat(100, 1)).FloatString(2))
						continue
					}
				}
			}
			out[k] = walk(x)
		}
		return out
	case []any:
		for i := range t {
			t[i] = walk(t[i])
		}
		return t
	case json.Number:
		// Decimals get two places so 12.3 and 12.30 compare equal.
		if strings.ContainsAny(t.String(), ".eE") {
			if r, ok := new(big.Rat).SetString(t.String()); ok {
				return json.Number(r.FloatString(2))
			}
		}
		return t
	}
	return v
}

func main() {
	sdk.Serve(sdk.Plugins{Comparator: cents{}})
}
