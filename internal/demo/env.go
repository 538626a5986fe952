package demo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ficus-migrate/ficus/internal/demo/apps"
	"github.com/ficus-migrate/ficus/internal/testenv"
)

// deps are the Debian packages the demo's databases come from, with the
// binaries that tell whether they are installed.
var deps = []struct{ pkg, bin string }{
	{"postgresql-15", "/usr/lib/postgresql/15/bin/postgres"},
	{"mariadb-server", "/usr/sbin/mariadbd"},
}

// EnsureDeps makes sure the Debian packages of the demo's databases are
// installed: when some are missing it installs them if ficus runs as root,
// printing progress to w, or returns an error that says the command to run.
func EnsureDeps(ctx context.Context, w io.Writer) error {
	need := missingDeps()
	if len(need) == 0 {
		return nil
	}
	return installDeps(ctx, need, w)
}

// missingDeps names the packages to install, or nothing.
func missingDeps() []string {
	var need []string
	for _, d := range deps {
		if _, err := os.Stat(d.bin); err != nil {
			need = append(need, d.pkg)
		}
	}
	return need
}

// installDeps installs the missing packages when ficus runs as root (as
// deploy/install-deps.sh does), or says the one command to run.
func installDeps(ctx context.Context, need []string, w io.Writer) error {
	cmd := "apt-get update && apt-get install -y --no-install-recommends " + strings.Join(need, " ")
	if os.Geteuid() != 0 {
		return fmt.Errorf("the demo needs %s; install with:\n  sudo %s\n(or run `make demo` as root)", strings.Join(need, ", "), cmd)
	}
	fmt.Fprintf(w, "installing %s …\n", strings.Join(need, " "))
	// policy-rc.d keeps the packages from starting their own servers on the
	// standard ports: the demo starts throwaway ones itself.
	script := `set -e; rc=/usr/sbin/policy-rc.d; made=; if [ ! -e $rc ]; then printf '#!/bin/sh\nexit 101\n' >$rc; chmod +x $rc; made=1; fi; ` +
		`DEBIAN_FRONTEND=noninteractive ` + strings.ReplaceAll(cmd, "apt-get install", "apt-get install -qq") +
		`; [ -n "$made" ] && rm -f $rc; true`
	c := exec.CommandContext(ctx, "sh", "-c", script)
	c.Stdout, c.Stderr = w, w
	if err := c.Run(); err != nil {
		return fmt.Errorf("install %s: %w", strings.Join(need, " "), err)
	}
	return nil
}

// databases are the throwaway database servers; a nil one did not start.
type databases struct {
	pg    *testenv.Postgres
	maria *testenv.MariaDB
}

// startDatabases starts PostgreSQL and MariaDB side by side. On error the
// ones that started are returned too, for close.
func startDatabases(ctx context.Context, logw io.Writer) (databases, error) {
	logf := func(format string, args ...any) { fmt.Fprintf(logw, format+"\n", args...) }
	var dbs databases
	var pgErr, mariaErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		dbs.pg, pgErr = testenv.StartPostgres(ctx, testenv.PostgresOptions{Logf: logf})
	})
	wg.Go(func() {
		dbs.maria, mariaErr = testenv.StartMariaDB(ctx, testenv.MariaDBOptions{Logf: logf})
	})
	wg.Wait()
	if err := errors.Join(pgErr, mariaErr); err != nil {
		return dbs, fmt.Errorf("start: %w", err)
	}
	return dbs, nil
}

// close stops the database servers by PID and removes their directories.
func (d databases) close() error {
	var errs []error
	if d.pg != nil {
		errs = append(errs, d.pg.Close())
	}
	if d.maria != nil {
		errs = append(errs, d.maria.Close())
	}
	return errors.Join(errs...)
}

// runningApps are the shop and the new orders service, running.
type runningApps struct {
	shopURL, ordersURL string
	shop               *apps.Shop
	shopDB             *sql.DB
	orders             *apps.Orders
	servers            []*http.Server
	wg                 sync.WaitGroup
}

// startApps creates both schemas and serves both apps on free ports.
func startApps(ctx context.Context, dbs databases, customers int, log io.Writer) (*runningApps, error) {
	a := &runningApps{}
	root, err := sql.Open("mysql", dbs.maria.DSN())
	if err != nil {
		return nil, err
	}
	_, err = root.ExecContext(ctx, "CREATE DATABASE shop")
	_ = root.Close() // used once; the statement's error is the one that matters
	if err != nil {
		return nil, fmt.Errorf("create database shop: %w", err)
	}
	shopDSN := fmt.Sprintf("root@tcp(%s:%d)/shop", dbs.maria.Host, dbs.maria.Port)
	if a.shopDB, err = sql.Open("mysql", shopDSN); err != nil {
		return nil, err
	}
	a.shopDB.SetMaxIdleConns(8)
	if err := apps.ShopSchema(ctx, a.shopDB, customers); err != nil {
		a.close()
		return nil, err
	}
	conn, err := pgx.Connect(ctx, dbs.pg.DSN())
	if err != nil {
		a.close()
		return nil, err
	}
	err = apps.OrdersSchema(ctx, conn)
	_ = conn.Close(ctx)
	if err != nil {
		a.close()
		return nil, err
	}
	logger := quietLogger(log)
	if a.orders, err = apps.NewOrders(ctx, apps.OrdersConfig{DSN: dbs.pg.DSN(), Logger: logger}); err != nil {
		a.close()
		return nil, err
	}
	if a.ordersURL, err = a.serve(a.orders.Handler()); err != nil {
		a.close()
		return nil, err
	}
	a.shop = apps.NewShop(apps.ShopConfig{DB: a.shopDB, NewService: a.ordersURL, Logger: logger})
	if a.shopURL, err = a.serve(a.shop.Handler()); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

func (a *runningApps) serve(h http.Handler) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	a.servers = append(a.servers, srv)
	a.wg.Go(func() { _ = srv.Serve(l) })
	return "http://" + l.Addr().String(), nil
}

// close stops both apps (shop first: it forwards to the orders service).
func (a *runningApps) close() {
	for i := len(a.servers) - 1; i >= 0; i-- {
		srv := a.servers[i]
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = srv.Shutdown(ctx)
		cancel()
	}
	a.wg.Wait()
	if a.orders != nil {
		a.orders.Close()
	}
	if a.shopDB != nil {
		_ = a.shopDB.Close()
	}
}
