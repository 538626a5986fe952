package reconcile

import (
	"context"
	"errors"
	"fmt"
)

// Endpoint is one side as a user configures it.
type Endpoint struct {
	// Engine is "postgres" or "mysql".
	Engine string
	// DSN is the connection string (a secret: never printed).
	DSN   string
	Table Table
}

// Open connects to both endpoints with conns connections each and returns
// the two sides and a function that closes them.
func Open(ctx context.Context, legacy, new Endpoint, conns int) (Side, Side, func(), error) {
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	open := func(e Endpoint) (Side, error) {
		switch e.Engine {
		case "mysql":
			db, err := OpenMariaDB(ctx, e.DSN, conns)
			if err != nil {
				return nil, err
			}
			closers = append(closers, func() { _ = db.Close() })
			return NewMariaDB(MariaDBConfig{DB: db, Table: e.Table})
		case "postgres":
			pool, err := OpenPostgres(ctx, e.DSN, conns)
			if err != nil {
				return nil, err
			}
			closers = append(closers, func() { pool.Close(context.WithoutCancel(ctx)) })
			return NewPostgres(PostgresConfig{Pool: pool, Table: e.Table})
		}
		return nil, fmt.Errorf("unknown engine %q", e.Engine)
	}
	l, err := open(legacy)
	if err != nil {
		closeAll()
		return nil, nil, nil, fmt.Errorf("legacy: %w", err)
	}
	n, err := open(new)
	if err != nil {
		closeAll()
		return nil, nil, nil, fmt.Errorf("new: %w", err)
	}
	if l == nil || n == nil {
		closeAll()
		return nil, nil, nil, errors.New("reconcile: no side")
	}
	return l, n, closeAll, nil
}
