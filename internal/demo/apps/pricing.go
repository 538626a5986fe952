// Package apps holds the two small applications `ficus demo` migrates
// between: a legacy shop over MariaDB (customers and orders) and the new
// orders service over PostgreSQL that is meant to replace the shop's
// /api/orders. Both answer the same JSON for an order, except where the new
// service's pricing has a deliberate bug, so that ficus's shadow comparison,
// rollout gates and data comparison have something true to find. A traffic
// driver plays the shop's customers.
package apps

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Coupon is the only coupon the shop knows: 10 % off the order.
const Coupon = "SAVE10"

// Catalogue is the shop's price list in cents, by SKU.
var catalogue = map[string]int64{
	"TEA-01": 495, "MUG-02": 1250, "CUP-03": 399, "POT-04": 2400,
	"BAG-05": 745, "KIT-06": 1899, "SPN-07": 235, "JAR-08": 990,
}

// SKUs lists the catalogue in a fixed order (the traffic driver picks from it).
var SKUs = []string{"TEA-01", "MUG-02", "CUP-03", "POT-04", "BAG-05", "KIT-06", "SPN-07", "JAR-08"}

// Cents is an amount of money in cents; it is written in JSON as a decimal
// number of the currency (1999 → 19.99), as the shop always has.
type Cents int64

// MarshalJSON writes 19.99 for 1999.
func (c Cents) MarshalJSON() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalJSON reads 19.99 (or "19.99") as 1999.
func (c *Cents) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("amount: %w", err)
	}
	v, err := ParseCents(n.String())
	if err != nil {
		return err
	}
	*c = v
	return nil
}

func (c Cents) String() string {
	sign := ""
	v := int64(c)
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// ParseCents reads a non-negative decimal with at most two fraction digits
// ("19.9", "19.99", "20") exactly, without going through a float.
func ParseCents(s string) (Cents, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 2 {
		return 0, fmt.Errorf("amount %q: more than 2 decimals", s)
	}
	frac = (frac + "00")[:2]
	w, err := strconv.ParseUint(whole, 10, 53)
	if err != nil {
		return 0, fmt.Errorf("amount %q: %w", s, err)
	}
	f, err := strconv.ParseUint(frac, 10, 8)
	if err != nil {
		return 0, fmt.Errorf("amount %q: bad decimals", s)
	}
	return Cents(int64(w)*100 + int64(f)), nil
}

// Item is one order line.
type Item struct {
	SKU       string `json:"sku"`
	Qty       int64  `json:"qty"`
	UnitPrice Cents  `json:"unit_price"`
}

// Order is an order as both services answer it on GET /api/orders/{id}.
type Order struct {
	ID         int64  `json:"id"`
	CustomerID int64  `json:"customer_id"`
	Items      []Item `json:"items"`
	Coupon     string `json:"coupon"`
	Total      Cents  `json:"total"`
	Status     string `json:"status"` // NEW or PAID
}

// NewOrder is the body of POST /api/orders.
type NewOrder struct {
	CustomerID int64  `json:"customer_id"`
	Items      []Item `json:"items"` // unit_price is ignored: the shop's price list decides
	Coupon     string `json:"coupon,omitempty"`
}

// priceItems fills in each item's unit price from the catalogue.
func priceItems(items []Item) ([]Item, error) {
	if len(items) == 0 || len(items) > 50 {
		return nil, fmt.Errorf("an order has 1 to 50 items, got %d", len(items))
	}
	out := make([]Item, len(items))
	for i, it := range items {
		p, ok := catalogue[it.SKU]
		if !ok {
			return nil, fmt.Errorf("items[%d]: unknown sku %q", i, it.SKU)
		}
		if it.Qty < 1 || it.Qty > 100 {
			return nil, fmt.Errorf("items[%d]: qty must be 1 to 100, got %d", i, it.Qty)
		}
		out[i] = Item{SKU: it.SKU, Qty: it.Qty, UnitPrice: Cents(p)}
	}
	return out, nil
}

func subtotal(items []Item) int64 {
	var s int64
	for _, it := range items {
		s += it.Qty * int64(it.UnitPrice)
	}
	return s
}

// LegacyTotal is how the shop has always priced an order: the coupon takes
// 10 % off and the result is rounded half up to the cent, in integers.
func LegacyTotal(items []Item, coupon string) Cents {
	s := subtotal(items)
	if coupon == Coupon {
		return Cents((s*90 + 50) / 100)
	}
	return Cents(s)
}

// NewTotal is the new orders service's pricing. Its deliberate bug: the
// discount is computed in floating point and truncated to the cent instead
// of rounded, so about half of the discounted orders come out one cent
// lower than the shop's (those whose subtotal ends in 1 to 5 cents).
func NewTotal(items []Item, coupon string) Cents {
	s := subtotal(items)
	if coupon == Coupon {
		return Cents(int64(float64(s) * 0.9))
	}
	return Cents(s)
}
