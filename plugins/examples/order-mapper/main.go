// Command order-mapper is an example ficus plugin for an orders migration.
// As a transform it maps the legacy orders table to the shape the new
// service expects:
//
//   - total_cents (integer cents) becomes total, a decimal string "12.34";
//   - status codes become words: N new, P paid, S shipped, C cancelled;
//   - events of table orders are re-routed from <...>.orders to <...>.orders_v2;
//   - events of other tables pass unchanged.
//
// With MAPPER_MODE=strict an unknown status code fails the batch (ficus then
// stops the source visibly); otherwise the code is kept as it is.
//
// As a row comparator (compare_data[].plugin) it accepts rounding of totals
// and the new service's finer statuses; see rows.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/ficus-migrate/ficus/plugins/sdk"
)

type mapper struct{ strict bool }

var statuses = map[string]string{"N": "new", "P": "paid", "S": "shipped", "C": "cancelled"}

func (m mapper) Transform(_ context.Context, _ string, batch []sdk.Event) ([]sdk.Event, error) {
	for i := range batch {
		e := &batch[i]
		if !strings.HasSuffix(e.Subject, ".orders") {
			continue
		}
		env, err := sdk.Decode(*e)
		if err != nil {
			return nil, err
		}
		for _, row := range []sdk.Row{env.Before, env.After} {
			if err := m.mapRow(row); err != nil {
				return nil, fmt.Errorf("event %s: %w", e.ID, err)
			}
		}
		if err := sdk.Encode(e, env); err != nil {
			return nil, err
		}
		e.Subject += "_v2"
	}
	return batch, nil
}

func (m mapper) mapRow(row sdk.Row) error {
	if row == nil {
		return nil
	}
	if raw, ok := row["total_cents"]; ok {
		delete(row, "total_cents")
		if string(raw) != "null" {
			cents, err := strconv.ParseInt(strings.Trim(string(raw), `"`), 10, 64)
			if err != nil {
				return fmt.Errorf("total_cents %s: %w", raw, err)
			}
			row["total"] = mustJSON(cents2decimal(cents))
		} else {
			row["total"] = raw
		}
	}
	if raw, ok := row["status"]; ok {
		var code string
		if err := json.Unmarshal(raw, &code); err == nil {
			if word, ok := statuses[code]; ok {
				row["status"] = mustJSON(word)
			} else if m.strict {
				return fmt.Errorf("unknown status code %q", code)
			}
		}
	}
	return nil
}

func cents2decimal(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}

func mustJSON(v string) json.RawMessage {
	b, _ := json.Marshal(v) // a string always encodes
	return b
}

func main() {
	tolerance, err := parseTolerance(os.Getenv("MAPPER_TOLERANCE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "order-mapper:", err)
		os.Exit(1)
	}
	sdk.Serve(sdk.Plugins{
		Transformer:   mapper{strict: os.Getenv("MAPPER_MODE") == "strict"},
		RowComparator: rows{tolerance: tolerance},
	})
}
