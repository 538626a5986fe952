package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ficus-migrate/ficus/capture/sink"
	"github.com/ficus-migrate/ficus/internal/backoff"
	"github.com/ficus-migrate/ficus/internal/config"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
	"github.com/ficus-migrate/ficus/shadow/data/continuous"
	"github.com/ficus-migrate/ficus/shadow/data/reconcile"
)

// startData runs one continuous comparison per compare_data entry and
// serves their figures on GET /api/data/{name}.
func startData(ctx context.Context, g *errgroup.Group, rt *proc) error {
	js, err := jetstream.New(rt.bus.Conn)
	if err != nil {
		return err
	}
	if err := refuseQuerySides(rt.cfg); err != nil {
		return err
	}
	comparers := map[string]*continuous.Comparer{}
	for i := range rt.cfg.CompareData {
		cd := &rt.cfg.CompareData[i]
		judge, err := rt.plugins.judge(ctx, i, cd)
		if err != nil {
			return err
		}
		legacy, neu, err := reconcileEndpoints(rt.cfg, cd.Name)
		if err != nil {
			return fmt.Errorf("compare_data[%d]: %w", i, err)
		}
		ls, err := dataSide(rt.cfg, cd.Legacy, legacy.Table)
		if err != nil {
			return fmt.Errorf("compare_data[%d]: %w", i, err)
		}
		ns, err := dataSide(rt.cfg, cd.New, neu.Table)
		if err != nil {
			return fmt.Errorf("compare_data[%d]: %w", i, err)
		}
		// A query side is read again from its database for the keys its
		// tables' changes touch.
		var readers [2]*queryReader
		for j, qs := range []struct {
			side config.DataSide
			s    *continuous.Side
		}{{cd.Legacy, &ls}, {cd.New, &ns}} {
			if qs.side.Query == "" {
				continue
			}
			readers[j] = &queryReader{}
			if qs.s.Query, err = querySide(rt.cfg, qs.side, readers[j]); err != nil {
				return fmt.Errorf("compare_data[%d]: %w", i, err)
			}
		}
		var ready atomic.Bool
		name := cd.Name
		rt.partCheck("data."+name, func(context.Context) error {
			if !ready.Load() {
				return errors.New("reading both tables' column types")
			}
			return nil
		})
		cfg := continuous.Config{Name: name, Legacy: ls, New: ns, MaxLag: cd.MaxLag, JS: js, Judge: judge,
			Logger: rt.log, Registerer: rt.reg}
		// Kinds need both tables' column types; New only registers metrics,
		// so the comparer is built first and the types are filled in once
		// the databases answer.
		cfg.Kinds = make([]canon.Kind, len(ls.Columns))
		c, err := continuous.New(cfg)
		if err != nil {
			return fmt.Errorf("compare_data[%d]: %w", i, err)
		}
		comparers[name] = c
		// A column masked at the source (validated: alike on both sides)
		// is compared on its masked text, whatever its type.
		masked := make([]bool, len(legacy.Table.Columns))
		for j, col := range legacy.Table.Columns {
			_, masked[j] = rt.cfg.MaskOf(cd.Legacy.Source, cd.Legacy.Table, col)
		}
		g.Go(func() error {
			runComparison(ctx, rt, c, legacy, neu, masked, readers, &ready)
			return nil
		})
	}
	all := make([]*continuous.Comparer, 0, len(comparers))
	for _, c := range comparers {
		all = append(all, c)
	}
	// The rollout data gates (rollout.gates.data) sum these across the fleet.
	g.Go(func() error {
		continuous.PublishTallies(ctx, continuous.TallyConfig{Conn: rt.bus.Conn, Instance: instanceID(), Comparers: all, Logger: rt.log})
		return nil
	})
	rt.admin.Handle("GET /api/data/{name}", continuous.Handler(comparers))
	rt.log.Info("data comparison started", "component", "data", "comparisons", len(comparers))
	return nil
}

// refuseQuerySides refuses continuous mode for a comparison with a query
// side (compare_data[].legacy/new.query) that names no query_tables:
// continuous mode would not know which changes touch its rows.
func refuseQuerySides(cfg *config.Config) error {
	for i := range cfg.CompareData {
		cd := &cfg.CompareData[i]
		for _, s := range []struct {
			name string
			side config.DataSide
		}{{"legacy", cd.Legacy}, {"new", cd.New}} {
			if s.side.Query != "" && len(s.side.QueryTables) == 0 {
				return fmt.Errorf("compare_data[%d] (%s): %s is a query without query_tables: such a query side is compared by ficus reconcile only "+
					"(list the captured tables the query reads in %s.query_tables, or keep the comparison in a config of its own)", i, cd.Name, s.name, s.name)
			}
		}
	}
	return nil
}

// runComparison reads the column types, then runs the comparer; a failure
// (database or stream not there yet) is retried with backoff until ctx ends.
func runComparison(ctx context.Context, rt *proc, c *continuous.Comparer, legacy, neu reconcile.Endpoint, masked []bool,
	readers [2]*queryReader, ready *atomic.Bool) {
	log := rt.log.With("component", "data", "compare", c.Name())
	b := backoff.New(backoff.Policy{Initial: time.Second, Max: 30 * time.Second})
	for ctx.Err() == nil {
		closeSides, err := describeKinds(ctx, c, legacy, neu, masked, readers)
		if err == nil {
			ready.Store(true)
			err = c.Run(ctx)
			closeSides()
		}
		if ctx.Err() != nil {
			return
		}
		wait := b.Next()
		log.Warn("data comparison stopped; retrying", "err", err, "in", wait.String())
		if backoff.Wait(ctx, wait) != nil {
			return
		}
	}
}

// describeKinds reads both sides' column types into c. The sides are
// closed at once unless one is a query: that one stays open for its
// reader until the returned function closes it.
func describeKinds(ctx context.Context, c *continuous.Comparer, legacy, neu reconcile.Endpoint, masked []bool,
	readers [2]*queryReader) (func(), error) {
	l, n, closeSides, err := reconcile.Open(ctx, legacy, neu, 1)
	if err != nil {
		return nil, err
	}
	keep := false
	defer func() {
		if !keep {
			closeSides()
		}
	}()
	lt, err := l.Describe(ctx)
	if err != nil {
		return nil, err
	}
	nt, err := n.Describe(ctx)
	if err != nil {
		return nil, err
	}
	kinds := reconcile.Kinds(lt, nt, legacy.Table.Rules)
	for i := range kinds {
		if i < len(masked) && masked[i] {
			kinds[i] = canon.KindText
		}
	}
	if err := c.SetKinds(kinds); err != nil {
		return nil, err
	}
	keyKinds, err := reconcile.KeyKinds(l, n)
	if err != nil {
		return nil, err
	}
	if err := c.SetKeyKinds(keyKinds); err != nil {
		return nil, err
	}
	if readers[0] == nil && readers[1] == nil {
		return func() {}, nil
	}
	if err := prepareQueryReaders([2]reconcile.Side{l, n}, readers, kinds, keyKinds, masked); err != nil {
		return nil, err
	}
	keep = true
	return func() {
		for _, r := range readers {
			if r != nil {
				r.set(nil, false)
			}
		}
		closeSides()
	}, nil
}

// dataSide is where one table's changes are on JetStream.
func dataSide(cfg *config.Config, side config.DataSide, t reconcile.Table) (continuous.Side, error) {
	schema, table, _ := strings.Cut(side.Table, ".")
	for _, s := range cfg.Capture.Sources {
		if s.Name != side.Source {
			continue
		}
		return continuous.Side{
			Stream:     sink.StreamName(s.Name),
			Subject:    s.Subject(cfg.Capture.SubjectPrefix, schema, table),
			Key:        t.Key,
			KeyColumns: t.KeyColumns,
			Columns:    t.Columns,
			Rules:      t.Rules,
		}, nil
	}
	return continuous.Side{}, fmt.Errorf("no capture source named %q", side.Source)
}
