package continuous

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// queryKeys reads the keys a change of a query's table touches: the new
// row's, and the old row's when it differs; none for a NULL key column.
func TestQueryKeys(t *testing.T) {
	items := &QueryTable{Subject: "s", KeyFrom: []string{"order_id"}}
	pair := &QueryTable{Subject: "s", KeyFrom: []string{"region", "order_no"}}
	for _, c := range []struct {
		name     string
		table    *QueryTable
		keyKinds []canon.Kind
		ev       string
		want     string
	}{
		{"insert", items, nil, `{"op":"c","after":{"order_id":7,"line_no":1},"key":{"order_id":7,"line_no":1}}`, "[7]"},
		{"snapshot row", items, nil, `{"op":"r","after":{"order_id":"9007199254740993"}}`, "[9007199254740993]"},
		{"update in place", items, nil, `{"op":"u","before":{"order_id":7,"amount":"1"},"after":{"order_id":7,"amount":"2"}}`, "[7]"},
		{"moved", items, nil, `{"op":"u","before":{"order_id":8},"after":{"order_id":9}}`, "[8 9]"},
		{"delete", items, nil, `{"op":"d","before":{"order_id":5},"after":null}`, "[5]"},
		{"null key", items, nil, `{"op":"c","after":{"order_id":null}}`, "[]"},
		{"tuple key", pair, []canon.Kind{canon.KindText, canon.KindInteger},
			`{"op":"u","before":{"region":"eu","order_no":"07"},"after":{"region":"us","order_no":7}}`, `[["eu","7"] ["us","7"]]`},
		{"truncate", items, nil, `{"op":"t"}`, "truncate"},
		{"unknown op", items, nil, `{"op":"m"}`, "skip"},
		{"no key column", items, nil, `{"op":"c","after":{"id":1}}`, "error"},
	} {
		t.Run(c.name, func(t *testing.T) {
			keys, truncate, _, err := queryKeys([]byte(c.ev), c.table, c.keyKinds)
			got := fmt.Sprint(keys)
			switch {
			case errors.Is(err, errSkip):
				got = "skip"
			case err != nil:
				got = "error"
			case truncate:
				got = "truncate"
			}
			if got != c.want {
				t.Errorf("got %s (%v), want %s", got, err, c.want)
			}
		})
	}
}
