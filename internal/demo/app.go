package demo

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ficus-migrate/ficus/internal/demo/apps"
)

// AppOptions say which demo application RunApp serves, and how.
type AppOptions struct {
	// App is "shop" (the legacy shop over MariaDB/MySQL) or "orders" (the
	// new orders service over PostgreSQL).
	App string
	// Listen is the address to serve on.
	Listen string
	// DSN is the application's database: user:pass@tcp(host:port)/db for
	// the shop, postgres://… for orders.
	DSN string
	// NewURL (shop only) is the new orders service the shop forwards each
	// order it writes to (a dual write); empty means none.
	NewURL string
	// Customers (shop only) is how many customers are created with the
	// tables.
	Customers int
}

// RunApp serves one of the demo's two applications on its own until ctx
// ends, creating its tables (and the shop's customers) when missing. It
// prints "demo APP serving on URL" to stdout once it listens and logs to
// logw.
func RunApp(ctx context.Context, o AppOptions, stdout, logw io.Writer) error {
	app := o.App
	if app != "shop" && app != "orders" {
		return fmt.Errorf("demo-app: unknown application %q, want shop or orders", app)
	}
	log := slog.New(slog.NewTextHandler(logw, nil))
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var h http.Handler
	switch app {
	case "shop":
		db, err := sql.Open("mysql", o.DSN)
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
			if err := apps.ShopSchema(startCtx, db, o.Customers); err != nil {
				return err
			}
		}
		h = apps.NewShop(apps.ShopConfig{DB: db, NewService: o.NewURL, Logger: log}).Handler()
	case "orders":
		var conn *pgx.Conn
		err := waitDB(startCtx, func(ctx context.Context) error {
			c, err := pgx.Connect(ctx, o.DSN)
			conn = c
			return err
		})
		if err != nil {
			return fmt.Errorf("demo-app orders: %w", err)
		}
		var exists bool
		err = conn.QueryRow(startCtx, `SELECT to_regclass('public.orders') IS NOT NULL`).Scan(&exists)
		if err == nil && !exists {
			err = apps.OrdersSchema(startCtx, conn)
		}
		_ = conn.Close(context.Background())
		if err != nil {
			return fmt.Errorf("demo-app orders: %w", err)
		}
		o, err := apps.NewOrders(startCtx, apps.OrdersConfig{DSN: o.DSN, Logger: log})
		if err != nil {
			return err
		}
		defer o.Close()
		h = o.Handler()
	}
	ln, err := net.Listen("tcp", o.Listen)
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
