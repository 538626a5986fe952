package main

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
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ficus-migrate/ficus/internal/demo/apps"
	"github.com/ficus-migrate/ficus/internal/testenv"
)

// demoDeps are the Debian packages the demo's databases come from, with the
// binaries that tell whether they are installed.
var demoDeps = []struct{ pkg, bin string }{
	{"postgresql-15", "/usr/lib/postgresql/15/bin/postgres"},
	{"mariadb-server", "/usr/sbin/mariadbd"},
}

// missingDeps names the packages to install, or nothing.
func demoMissingDeps() []string {
	var need []string
	for _, d := range demoDeps {
		if _, err := os.Stat(d.bin); err != nil {
			need = append(need, d.pkg)
		}
	}
	return need
}

// installDeps installs the missing packages when ficus runs as root (as
// deploy/install-deps.sh does), or says the one command to run.
func demoInstallDeps(ctx context.Context, need []string, w io.Writer) error {
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

// demoTB lets the demo start its databases with cmd/ficus/testenv, the same
// helpers the tests use (free ports, temp dirs, stop by PID): it is a
// testenv.TB that records failures and cleanups instead of failing a test.
var _ testenv.TB = (*demoTB)(nil)

type demoTB struct {
	log io.Writer

	mu       sync.Mutex
	cleanups []func()
	errs     []string
}

func (d *demoTB) Helper()                      {}
func (d *demoTB) Name() string                 { return "ficus-demo" }
func (d *demoTB) Logf(format string, a ...any) { fmt.Fprintf(d.log, format+"\n", a...) }
func (d *demoTB) Log(a ...any)                 { fmt.Fprintln(d.log, a...) }

func (d *demoTB) Errorf(format string, a ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.errs = append(d.errs, fmt.Sprintf(format, a...))
}

// Fatalf ends the goroutine, as in a test; start runs testenv in its own.
func (d *demoTB) Fatalf(format string, a ...any) {
	d.Errorf(format, a...)
	runtime.Goexit()
}

func (d *demoTB) Fatal(a ...any) { d.Fatalf("%s", fmt.Sprint(a...)) }

func (d *demoTB) TempDir() string {
	dir, err := os.MkdirTemp("", "ficus-demo-")
	if err != nil {
		d.Fatalf("temp dir: %v", err)
	}
	d.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func (d *demoTB) Failed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.errs) > 0
}

func (d *demoTB) Cleanup(f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cleanups = append(d.cleanups, f)
}

func (d *demoTB) err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(d.errs, "; "))
}

// cleanup runs the registered cleanups, last first: it stops the database
// servers by PID and removes their directories.
func (d *demoTB) cleanup() error {
	d.mu.Lock()
	fs := d.cleanups
	d.cleanups = nil
	n := len(d.errs)
	d.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.errs) > n {
		return errors.New(strings.Join(d.errs[n:], "; "))
	}
	return nil
}

// demoStart runs a testenv start function in its own goroutine, so that its
// Fatalf (runtime.Goexit) ends only that goroutine.
func demoStart[T any](d *demoTB, start func(testenv.TB) T) (T, error) {
	var v T
	ok := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		v = start(d)
		ok = true
	}()
	<-done
	if !ok || d.Failed() {
		var zero T
		return zero, fmt.Errorf("start: %w", d.err())
	}
	return v, nil
}

// demoDBs are the throwaway databases.
type demoDBs struct {
	pg    *testenv.Postgres
	maria *testenv.MariaDB
}

// startDBs starts PostgreSQL and MariaDB side by side.
func demoStartDBs(d *demoTB) (demoDBs, error) {
	var dbs demoDBs
	var pgErr, mariaErr error
	var wg sync.WaitGroup
	wg.Go(func() { dbs.pg, pgErr = demoStart(d, testenv.StartPostgres) })
	wg.Go(func() { dbs.maria, mariaErr = demoStart(d, testenv.StartMariaDB) })
	wg.Wait()
	if err := errors.Join(pgErr, mariaErr); err != nil {
		return dbs, err
	}
	return dbs, nil
}

// demoApps are the shop and the new orders service, running.
type demoApps struct {
	shopURL, ordersURL string
	shop               *demoapps.Shop
	shopDB             *sql.DB
	orders             *demoapps.Orders
	servers            []*http.Server
	wg                 sync.WaitGroup
}

// startApps creates both schemas and serves both apps on free ports.
func demoStartApps(ctx context.Context, dbs demoDBs, customers int, log io.Writer) (*demoApps, error) {
	a := &demoApps{}
	root, err := sql.Open("mysql", dbs.maria.DSN())
	if err != nil {
		return nil, err
	}
	_, err = root.ExecContext(ctx, "CREATE DATABASE shop")
	root.Close()
	if err != nil {
		return nil, fmt.Errorf("create database shop: %w", err)
	}
	shopDSN := fmt.Sprintf("root@tcp(%s:%d)/shop", dbs.maria.Host, dbs.maria.Port)
	if a.shopDB, err = sql.Open("mysql", shopDSN); err != nil {
		return nil, err
	}
	a.shopDB.SetMaxIdleConns(8)
	if err := demoapps.ShopSchema(ctx, a.shopDB, customers); err != nil {
		a.close()
		return nil, err
	}
	conn, err := pgx.Connect(ctx, dbs.pg.DSN())
	if err != nil {
		a.close()
		return nil, err
	}
	err = demoapps.OrdersSchema(ctx, conn)
	_ = conn.Close(ctx)
	if err != nil {
		a.close()
		return nil, err
	}
	logger := demoLogger(log)
	if a.orders, err = demoapps.NewOrders(ctx, demoapps.OrdersConfig{DSN: dbs.pg.DSN(), Logger: logger}); err != nil {
		a.close()
		return nil, err
	}
	if a.ordersURL, err = a.serve(a.orders.Handler()); err != nil {
		a.close()
		return nil, err
	}
	a.shop = demoapps.NewShop(demoapps.ShopConfig{DB: a.shopDB, NewService: a.ordersURL, Logger: logger})
	if a.shopURL, err = a.serve(a.shop.Handler()); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

func (a *demoApps) serve(h http.Handler) (string, error) {
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
func (a *demoApps) close() {
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
