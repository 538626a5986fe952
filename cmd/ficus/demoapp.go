package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ficus-migrate/ficus/internal/demo/apps"
)

const demoAppHelp = `Usage: ficus demo-app shop|orders --listen ADDR --dsn DSN [--new URL] [--customers N]

Serves one of the demo's two applications on its own, for the docker compose
trial (deploy/compose) or to put ficus in front of by hand:

  shop     the legacy shop over MariaDB/MySQL: GET /api/customers/{id},
           GET /api/orders[?customer_id=N], GET /api/orders/{id},
           POST /api/orders, POST /api/orders/{id}/pay; with --new it
           forwards every order it writes to the new service (a dual write)
  orders   the new orders service over PostgreSQL, answering like the shop
           (with the demo's rounding bug on discounted totals) and taking
           the shop's dual writes on /internal/orders

Its tables are created (and the shop's customers filled) when missing.
--dsn is user:pass@tcp(host:port)/db for the shop, postgres://… for orders.

Config keys read: none.
`

func demoAppCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo-app", demoAppHelp, stderr)
	listen := fs.String("listen", "127.0.0.1:3000", "address to serve on")
	dsn := fs.String("dsn", "", "the application's database")
	newURL := fs.String("new", "", "shop only: the new orders service to forward writes to")
	customers := fs.Int("customers", 200, "shop only: customers created with the tables")
	app := ""
	if len(args) > 0 && (args[0] == "shop" || args[0] == "orders") {
		app, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err // --help included
	}
	if app == "" {
		return &exitError{code: 2, err: errors.New("demo-app: want shop or orders first (ficus demo-app --help)")}
	}
	if *dsn == "" {
		return &exitError{code: 2, err: errors.New("demo-app: --dsn is required")}
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var h http.Handler
	switch app {
	case "shop":
		db, err := sql.Open("mysql", *dsn)
		if err != nil {
			return fmt.Errorf("demo-app shop: %w", err)
		}
		defer db.Close()
		if err := waitDB(startCtx, db.PingContext); err != nil {
			return fmt.Errorf("demo-app shop: %w", err)
		}
		var n int
		if err := db.QueryRowContext(startCtx, `SELECT COUNT(*) FROM information_schema.tables
			WHERE table_schema = DATABASE() AND table_name = 'orders'`).Scan(&n); err != nil {
			return fmt.Errorf("demo-app shop: %w", err)
		}
		if n == 0 {
			if err := demoapps.ShopSchema(startCtx, db, *customers); err != nil {
				return err
			}
		}
		h = demoapps.NewShop(demoapps.ShopConfig{DB: db, NewService: *newURL, Logger: log}).Handler()
	case "orders":
		var conn *pgx.Conn
		err := waitDB(startCtx, func(ctx context.Context) error {
			c, err := pgx.Connect(ctx, *dsn)
			conn = c
			return err
		})
		if err != nil {
			return fmt.Errorf("demo-app orders: %w", err)
		}
		var exists bool
		err = conn.QueryRow(startCtx, `SELECT to_regclass('public.orders') IS NOT NULL`).Scan(&exists)
		if err == nil && !exists {
			err = demoapps.OrdersSchema(startCtx, conn)
		}
		_ = conn.Close(context.Background())
		if err != nil {
			return fmt.Errorf("demo-app orders: %w", err)
		}
		o, err := demoapps.NewOrders(startCtx, demoapps.OrdersConfig{DSN: *dsn, Logger: log})
		if err != nil {
			return err
		}
		defer o.Close()
		h = o.Handler()
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("demo-app %s: listen (--listen): %w", app, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "demo %s serving on http://%s\n", app, ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("demo-app %s: %w", app, err)
	case <-ctx.Done():
	}
	shut, cancelShut := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelShut()
	return srv.Shutdown(shut)
}

// waitDB retries ping until the database answers (in compose it starts
// beside the app) or ctx ends.
func waitDB(ctx context.Context, ping func(context.Context) error) error {
	for {
		err := ping(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("database not reachable: %w", err)
		case <-time.After(time.Second):
		}
	}
}
