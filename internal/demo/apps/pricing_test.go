package apps

import (
	"encoding/json"
	"testing"
)

func items(pairs ...any) []Item {
	var out []Item
	for i := 0; i < len(pairs); i += 2 {
		sku := pairs[i].(string)
		out = append(out, Item{SKU: sku, Qty: int64(pairs[i+1].(int)), UnitPrice: Cents(catalogue[sku])})
	}
	return out
}

func TestPricing(t *testing.T) {
	for _, tc := range []struct {
		name        string
		items       []Item
		coupon      string
		legacy, new Cents
	}{
		{"no coupon: both sum the lines", items("TEA-01", 2, "MUG-02", 1), "", 2240, 2240},
		{"coupon, subtotal ends in 0: exact", items("JAR-08", 1), Coupon, 891, 891},
		{"coupon, subtotal ends in 5: legacy rounds up, new truncates", items("TEA-01", 1), Coupon, 446, 445},
		{"coupon, subtotal ends in 4", items("CUP-03", 1, "MUG-02", 1, "SPN-07", 2, "BAG-05", 1), Coupon, 2578, 2577},
		{"coupon, subtotal ends in 9: rounds down on both", items("CUP-03", 1), Coupon, 359, 359},
		{"unknown coupon is no discount", items("TEA-01", 1), "SAVE99", 495, 495},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LegacyTotal(tc.items, tc.coupon); got != tc.legacy {
				t.Errorf("LegacyTotal = %s, want %s", got, tc.legacy)
			}
			if got := NewTotal(tc.items, tc.coupon); got != tc.new {
				t.Errorf("NewTotal = %s, want %s", got, tc.new)
			}
		})
	}
}

// The bug must hit about half of the discounted orders (subtotals ending
// in 1..5 cents), never an order without the coupon.
func TestNewTotalBugRate(t *testing.T) {
	differ := 0
	for s := int64(1); s <= 10000; s++ {
		it := []Item{{SKU: "X", Qty: s, UnitPrice: 1}}
		if LegacyTotal(it, "") != NewTotal(it, "") {
			t.Fatalf("subtotal %d without coupon differs", s)
		}
		if LegacyTotal(it, Coupon) != NewTotal(it, Coupon) {
			differ++
			if d := LegacyTotal(it, Coupon) - NewTotal(it, Coupon); d != 1 {
				t.Fatalf("subtotal %d: off by %d cents, want 1", s, d)
			}
		}
	}
	if differ != 5000 {
		t.Errorf("%d of 10000 discounted subtotals differ, want 5000", differ)
	}
}

func TestCents(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Cents
		wantErr bool
	}{
		{"19.99", 1999, false},
		{"19.9", 1990, false},
		{"20", 2000, false},
		{"0.05", 5, false},
		{`"7.45"`, 745, false},
		{"1.999", 0, true},
		{"-1.00", 0, true},
		{"abc", 0, true},
	} {
		var c Cents
		err := json.Unmarshal([]byte(tc.in), &c)
		if (err != nil) != tc.wantErr || (!tc.wantErr && c != tc.want) {
			t.Errorf("%s: got %d, %v; want %d, error %v", tc.in, c, err, tc.want, tc.wantErr)
		}
		if !tc.wantErr {
			b, _ := json.Marshal(c)
			var back Cents
			if err := json.Unmarshal(b, &back); err != nil || back != c {
				t.Errorf("%s: round trip through %s gave %d, %v", tc.in, b, back, err)
			}
		}
	}
}
