package apps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/jackc/pgx/v5"
)

// OrdersSchema creates the new orders service's table. It keeps the shop's
// order id as legacy_id, stores totals in cents and names statuses its own
// way (created, paid): the data comparison maps one onto the other.
func OrdersSchema(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx, `CREATE TABLE orders (
		id bigserial PRIMARY KEY,
		legacy_id bigint NOT NULL UNIQUE,
		customer_ref integer NOT NULL,
		items jsonb NOT NULL,
		coupon text NOT NULL DEFAULT '',
		total bigint NOT NULL,
		state text NOT NULL,
		created_at timestamptz NOT NULL DEFAULT now())`)
	if err == nil {
		_, err = conn.Exec(ctx, `CREATE INDEX orders_customer ON orders (customer_ref, legacy_id)`)
	}
	if err != nil {
		return fmt.Errorf("orders schema: %w", err)
	}
	return nil
}

// OrdersConfig configures the new orders service.
type OrdersConfig struct {
	// DSN is its PostgreSQL database (OrdersSchema's table).
	DSN string
	// Conns is the number of database connections [4].
	Conns int
	// Logger [slog.Default()].
	Logger *slog.Logger
}

// Orders is the new orders service: GET /api/orders (?customer_id=N) and
// GET /api/orders/{id} answer like the shop (ids are the shop's), and
// POST /internal/orders and POST /internal/orders/{id}/pay take the shop's
// dual writes.
type Orders struct {
	log   *slog.Logger
	conns chan *pgx.Conn
}

// NewOrders connects to the database.
func NewOrders(ctx context.Context, cfg OrdersConfig) (*Orders, error) {
	if cfg.Conns <= 0 {
		cfg.Conns = 4
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	o := &Orders{log: cfg.Logger.With("component", "demo-orders"), conns: make(chan *pgx.Conn, cfg.Conns)}
	for range cfg.Conns {
		c, err := pgx.Connect(ctx, cfg.DSN)
		if err != nil {
			o.Close()
			return nil, fmt.Errorf("orders service: connect: %w", err)
		}
		o.conns <- c
	}
	return o, nil
}

// Close closes the idle connections (call it once requests have stopped).
func (o *Orders) Close() {
	for {
		select {
		case c := <-o.conns:
			_ = c.Close(context.Background())
		default:
			return
		}
	}
}

// with runs f on a pooled connection; a broken connection is replaced.
func (o *Orders) with(ctx context.Context, f func(*pgx.Conn) error) error {
	var c *pgx.Conn
	select {
	case c = <-o.conns:
	case <-ctx.Done():
		return ctx.Err()
	}
	err := f(c)
	if c.IsClosed() {
		nc, cerr := pgx.Connect(context.WithoutCancel(ctx), c.Config().ConnString())
		if cerr != nil {
			// Keep the closed one: the next use fails fast and tries again.
			o.conns <- c
			return errors.Join(err, cerr)
		}
		c = nc
	}
	o.conns <- c
	return err
}

// Handler serves the service's API.
func (o *Orders) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/orders", o.list)
	mux.HandleFunc("GET /api/orders/{id}", o.order)
	mux.HandleFunc("POST /internal/orders", o.take)
	mux.HandleFunc("POST /internal/orders/{id}/pay", o.pay)
	return mux
}

const newOrderColumns = "legacy_id, customer_ref, items, coupon, total, state"

func scanNewOrder(row pgx.Row) (Order, error) {
	var o Order
	var items []byte
	var total int64
	var state string
	if err := row.Scan(&o.ID, &o.CustomerID, &items, &o.Coupon, &total, &state); err != nil {
		return o, err
	}
	if err := json.Unmarshal(items, &o.Items); err != nil {
		return o, fmt.Errorf("order %d items: %w", o.ID, err)
	}
	o.Total = Cents(total)
	o.Status = legacyStatus(state)
	return o, nil
}

// The shop's API speaks NEW/PAID; the new table says created/paid.
func legacyStatus(state string) string {
	switch state {
	case "created":
		return "NEW"
	case "paid":
		return "PAID"
	}
	return state
}

func newState(status string) string {
	switch status {
	case "NEW":
		return "created"
	case "PAID":
		return "paid"
	}
	return status
}

func (o *Orders) order(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		writeError(w, http.StatusBadRequest, errBadID)
		return
	}
	var ord Order
	err := o.with(r.Context(), func(c *pgx.Conn) error {
		var err error
		ord, err = scanNewOrder(c.QueryRow(r.Context(), "SELECT "+newOrderColumns+" FROM orders WHERE legacy_id = $1", id))
		return err
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		writeError(w, http.StatusNotFound, errOrderNotFound)
	case err != nil:
		o.fail(w, "read order", err)
	default:
		writeJSON(w, http.StatusOK, ord)
	}
}

func (o *Orders) list(w http.ResponseWriter, r *http.Request) {
	cid, ok := positive(r.URL.Query().Get("customer_id"))
	if !ok {
		writeError(w, http.StatusBadRequest, errCustomerRequired)
		return
	}
	out := orderList{Orders: []Order{}}
	err := o.with(r.Context(), func(c *pgx.Conn) error {
		rows, err := c.Query(r.Context(), "SELECT "+newOrderColumns+
			" FROM orders WHERE customer_ref = $1 ORDER BY legacy_id DESC LIMIT $2", cid, listLimit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			ord, err := scanNewOrder(rows)
			if err != nil {
				return err
			}
			out.Orders = append(out.Orders, ord)
		}
		return rows.Err()
	})
	if err != nil {
		o.fail(w, "list orders", err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// take stores an order the shop forwarded, priced by this service's own
// code (NewTotal: the deliberate bug).
func (o *Orders) take(w http.ResponseWriter, r *http.Request) {
	var in mirroredOrder
	if err := readJSON(w, r, &in); err != nil {
		writeError(w, http.StatusBadRequest, "bad order: "+err.Error())
		return
	}
	if in.LegacyID <= 0 || in.CustomerID <= 0 || len(in.Items) == 0 {
		writeError(w, http.StatusUnprocessableEntity, "legacy_id, customer_id and items are required")
		return
	}
	items, _ := json.Marshal(in.Items) // plain structs: cannot fail
	err := o.with(r.Context(), func(c *pgx.Conn) error {
		_, err := c.Exec(r.Context(), `INSERT INTO orders (legacy_id, customer_ref, items, coupon, total, state)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (legacy_id) DO NOTHING`,
			in.LegacyID, in.CustomerID, string(items), in.Coupon, int64(NewTotal(in.Items, in.Coupon)), newState(in.Status))
		return err
	})
	if err != nil {
		o.fail(w, "store order", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (o *Orders) pay(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		writeError(w, http.StatusBadRequest, errBadID)
		return
	}
	var n int64
	err := o.with(r.Context(), func(c *pgx.Conn) error {
		tag, err := c.Exec(r.Context(), "UPDATE orders SET state = 'paid' WHERE legacy_id = $1", id)
		n = tag.RowsAffected()
		return err
	})
	switch {
	case err != nil:
		o.fail(w, "pay order", err)
	case n == 0:
		writeError(w, http.StatusNotFound, errOrderNotFound)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (o *Orders) fail(w http.ResponseWriter, what string, err error) {
	o.log.Error(what, "err", err)
	writeError(w, http.StatusInternalServerError, what+" failed")
}
