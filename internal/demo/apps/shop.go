package apps

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// ShopSchema creates the legacy shop's tables in the current MariaDB
// database and fills customers with n customers (ids 1..n).
func ShopSchema(ctx context.Context, db *sql.DB, n int) error {
	for _, stmt := range []string{
		`CREATE TABLE customers (
			id INT PRIMARY KEY,
			name VARCHAR(100) NOT NULL,
			email VARCHAR(200) NOT NULL,
			city VARCHAR(100) NOT NULL)`,
		`CREATE TABLE orders (
			id BIGINT AUTO_INCREMENT PRIMARY KEY,
			customer_id INT NOT NULL,
			items TEXT NOT NULL,
			coupon VARCHAR(20) NOT NULL DEFAULT '',
			amount DECIMAL(10,2) NOT NULL,
			status VARCHAR(10) NOT NULL,
			created_at DATETIME(6) NOT NULL,
			KEY orders_customer (customer_id, id))`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("shop schema: %w", err)
		}
	}
	first := []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Niklaus"}
	last := []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton", "Wirth"}
	cities := []string{"Lyon", "Porto", "Gent", "Turku", "Graz", "Brno", "Cork", "Split"}
	for i := 1; i <= n; i++ {
		name := first[i%len(first)] + " " + last[(i/len(first))%len(last)]
		email := fmt.Sprintf("customer%d@shop.example", i)
		if _, err := db.ExecContext(ctx, "INSERT INTO customers (id, name, email, city) VALUES (?, ?, ?, ?)",
			i, name, email, cities[i%len(cities)]); err != nil {
			return fmt.Errorf("shop customers: %w", err)
		}
	}
	return nil
}

// ShopConfig configures the legacy shop.
type ShopConfig struct {
	// DB is the shop's MariaDB database (ShopSchema's tables).
	DB *sql.DB
	// NewService is the new orders service's base URL. Every order the shop
	// writes (created or paid) is forwarded there after its own commit: the
	// dual write that keeps the new database in step while the shop is
	// still the system of record. Empty: no forwarding.
	NewService string
	// Client sends the forwarded writes [a client with a 2 s timeout].
	Client *http.Client
	// Logger [slog.Default()].
	Logger *slog.Logger
}

// Shop is the legacy shop: GET /api/customers/{id}, GET /api/orders
// (?customer_id=N), GET /api/orders/{id}, POST /api/orders and
// POST /api/orders/{id}/pay.
type Shop struct {
	cfg ShopConfig
	log *slog.Logger
	// forwardErrors counts dual writes the new service did not take.
	forwardErrors atomic.Int64
}

// NewShop returns the shop.
func NewShop(cfg ShopConfig) *Shop {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 2 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Shop{cfg: cfg, log: cfg.Logger.With("component", "demo-shop")}
}

// ForwardErrors is the number of writes that could not be forwarded to the
// new service.
func (s *Shop) ForwardErrors() int64 { return s.forwardErrors.Load() }

// Handler serves the shop's API.
func (s *Shop) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/customers/{id}", s.customer)
	mux.HandleFunc("GET /api/orders", s.list)
	mux.HandleFunc("GET /api/orders/{id}", s.order)
	mux.HandleFunc("POST /api/orders", s.create)
	mux.HandleFunc("POST /api/orders/{id}/pay", s.pay)
	return mux
}

// Customer is GET /api/customers/{id}'s answer.
type Customer struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	City  string `json:"city"`
}

func (s *Shop) customer(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		writeError(w, http.StatusBadRequest, errBadID)
		return
	}
	c := Customer{ID: id}
	err := s.cfg.DB.QueryRowContext(r.Context(), "SELECT name, email, city FROM customers WHERE id = ?", id).
		Scan(&c.Name, &c.Email, &c.City)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		writeError(w, http.StatusNotFound, errCustomerNotFound)
	case err != nil:
		s.fail(w, "read customer", err)
	default:
		writeJSON(w, http.StatusOK, c)
	}
}

const shopOrderColumns = "id, customer_id, items, coupon, amount, status"

func scanShopOrder(row interface{ Scan(...any) error }) (Order, error) {
	var o Order
	var items, amount string
	if err := row.Scan(&o.ID, &o.CustomerID, &items, &o.Coupon, &amount, &o.Status); err != nil {
		return o, err
	}
	if err := json.Unmarshal([]byte(items), &o.Items); err != nil {
		return o, fmt.Errorf("order %d items: %w", o.ID, err)
	}
	total, err := ParseCents(amount)
	o.Total = total
	return o, err
}

func (s *Shop) order(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		writeError(w, http.StatusBadRequest, errBadID)
		return
	}
	o, err := scanShopOrder(s.cfg.DB.QueryRowContext(r.Context(), "SELECT "+shopOrderColumns+" FROM orders WHERE id = ?", id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		writeError(w, http.StatusNotFound, errOrderNotFound)
	case err != nil:
		s.fail(w, "read order", err)
	default:
		writeJSON(w, http.StatusOK, o)
	}
}

func (s *Shop) list(w http.ResponseWriter, r *http.Request) {
	cid, ok := positive(r.URL.Query().Get("customer_id"))
	if !ok {
		writeError(w, http.StatusBadRequest, errCustomerRequired)
		return
	}
	rows, err := s.cfg.DB.QueryContext(r.Context(),
		"SELECT "+shopOrderColumns+" FROM orders WHERE customer_id = ? ORDER BY id DESC LIMIT "+strconv.Itoa(listLimit), cid)
	if err != nil {
		s.fail(w, "list orders", err)
		return
	}
	defer rows.Close()
	out := orderList{Orders: []Order{}}
	for rows.Next() {
		o, err := scanShopOrder(rows)
		if err != nil {
			s.fail(w, "list orders", err)
			return
		}
		out.Orders = append(out.Orders, o)
	}
	if err := rows.Err(); err != nil {
		s.fail(w, "list orders", err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// writeTimeout bounds a write and its forwarding. Writes are detached from
// the client's connection: a client that goes away must not leave an order
// committed in the shop but never forwarded.
const writeTimeout = 5 * time.Second

func (s *Shop) create(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), writeTimeout)
	defer cancel()
	var in NewOrder
	if err := readJSON(w, r, &in); err != nil {
		writeError(w, http.StatusBadRequest, "bad order: "+err.Error())
		return
	}
	items, err := priceItems(in.Items)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	if in.Coupon != "" && in.Coupon != Coupon {
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("unknown coupon %q", in.Coupon))
		return
	}
	var exists int
	err = s.cfg.DB.QueryRowContext(ctx, "SELECT 1 FROM customers WHERE id = ?", in.CustomerID).Scan(&exists)
	if errors.Is(err, sql.ErrNoRows) {
		writeError(w, http.StatusUnprocessableEntity, errCustomerNotFound)
		return
	} else if err != nil {
		s.fail(w, "read customer", err)
		return
	}
	o := Order{CustomerID: in.CustomerID, Items: items, Coupon: in.Coupon, Total: LegacyTotal(items, in.Coupon), Status: "NEW"}
	itemsJSON, _ := json.Marshal(items) // plain structs: cannot fail
	res, err := s.cfg.DB.ExecContext(ctx,
		"INSERT INTO orders (customer_id, items, coupon, amount, status, created_at) VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(6))",
		o.CustomerID, string(itemsJSON), o.Coupon, o.Total.String(), o.Status)
	if err != nil {
		s.fail(w, "insert order", err)
		return
	}
	if o.ID, err = res.LastInsertId(); err != nil {
		s.fail(w, "insert order", err)
		return
	}
	s.forward(ctx, "/internal/orders", mirroredOrder{LegacyID: o.ID, CustomerID: o.CustomerID,
		Items: o.Items, Coupon: o.Coupon, Status: o.Status})
	writeJSON(w, http.StatusCreated, o)
}

func (s *Shop) pay(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), writeTimeout)
	defer cancel()
	id, ok := pathID(r)
	if !ok {
		writeError(w, http.StatusBadRequest, errBadID)
		return
	}
	if _, err := s.cfg.DB.ExecContext(ctx, "UPDATE orders SET status = 'PAID' WHERE id = ?", id); err != nil {
		s.fail(w, "pay order", err)
		return
	}
	o, err := scanShopOrder(s.cfg.DB.QueryRowContext(ctx, "SELECT "+shopOrderColumns+" FROM orders WHERE id = ?", id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		writeError(w, http.StatusNotFound, errOrderNotFound)
	case err != nil:
		s.fail(w, "read order", err)
	default:
		s.forward(ctx, "/internal/orders/"+strconv.FormatInt(id, 10)+"/pay", nil)
		writeJSON(w, http.StatusOK, o)
	}
}

// forward is the dual write. It runs after the shop's own commit and never
// fails the client's request: a write the new service missed is exactly
// what the data comparison is there to find.
func (s *Shop) forward(ctx context.Context, path string, body any) {
	if s.cfg.NewService == "" {
		return
	}
	b, _ := json.Marshal(body) // plain structs or nil: cannot fail
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.NewService+path, bytes.NewReader(b))
	if err != nil {
		s.forwardFailed(path, err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		s.forwardFailed(path, err)
		return
	}
	_ = resp.Body.Close() // only the status matters
	if resp.StatusCode/100 != 2 {
		s.forwardFailed(path, fmt.Errorf("new service answered %s", resp.Status))
	}
}

func (s *Shop) forwardFailed(path string, err error) {
	s.forwardErrors.Add(1)
	s.log.Warn("dual write to the new service failed", "path", path, "err", err)
}

func (s *Shop) fail(w http.ResponseWriter, what string, err error) {
	s.log.Error(what, "err", err)
	writeError(w, http.StatusInternalServerError, what+" failed")
}
