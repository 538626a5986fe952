package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/ficus-migrate/ficus/internal/config"
	"github.com/ficus-migrate/ficus/shadow/data/canon"
	"github.com/ficus-migrate/ficus/shadow/data/continuous"
	"github.com/ficus-migrate/ficus/shadow/data/reconcile"
)

// queryReader reads a query side's rows for continuous mode, through the
// side runComparison opened and prepared (nil while it is not open).
type queryReader struct {
	mu     sync.Mutex
	side   reconcile.KeyReader
	intKey bool
}

func (q *queryReader) set(s reconcile.KeyReader, intKey bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.side, q.intKey = s, intKey
}

// rows implements continuous.QuerySide.Rows.
func (q *queryReader) rows(ctx context.Context, keys []continuous.Key) (map[continuous.Key][]canon.Value, error) {
	q.mu.Lock()
	s, intKey := q.side, q.intKey
	q.mu.Unlock()
	if s == nil {
		return nil, errors.New("the query side's database is not open")
	}
	texts := make([]canon.Key, len(keys))
	for i, k := range keys {
		texts[i] = k.Texts()
	}
	rows, err := s.RowsOf(ctx, texts)
	if err != nil {
		return nil, err
	}
	out := make(map[continuous.Key][]canon.Value, len(rows))
	for _, r := range rows {
		k, err := continuous.KeyOfTexts(r.Tuple, intKey)
		if err != nil {
			return nil, err
		}
		out[k] = r.Values
	}
	return out, nil
}

// querySide is the continuous QuerySide of a query side with query_tables:
// each table's subject on the side's source, and its key columns.
func querySide(cfg *config.Config, side config.DataSide, r *queryReader) (*continuous.QuerySide, error) {
	for _, s := range cfg.Capture.Sources {
		if s.Name != side.Source {
			continue
		}
		q := &continuous.QuerySide{Rows: r.rows}
		for _, t := range side.QueryTables {
			schema, table, _ := strings.Cut(t, ".")
			from := side.KeyFrom[t]
			if len(from) == 0 {
				from = side.Key
			}
			q.Tables = append(q.Tables, continuous.QueryTable{Subject: s.Subject(cfg.Capture.SubjectPrefix, schema, table), KeyFrom: from})
		}
		return q, nil
	}
	return nil, fmt.Errorf("no capture source named %q", side.Source)
}

// prepareQueryReaders prepares the sides that are queries to read their
// rows by key (l and n are described, kinds and keyKinds set) and hands
// them to their readers; nil readers are table sides.
func prepareQueryReaders(sides [2]reconcile.Side, readers [2]*queryReader, kinds, keyKinds []canon.Kind, masked []bool) error {
	for i, r := range readers {
		if r == nil {
			continue
		}
		for j, m := range masked {
			if m {
				return fmt.Errorf("column %d is masked in capture: it cannot be compared with a query side, which reads the database", j+1)
			}
		}
		kr, ok := sides[i].(reconcile.KeyReader)
		if !ok {
			return errors.New("this side cannot read rows by key")
		}
		if err := kr.Prepare(kinds); err != nil {
			return err
		}
		kk := keyKinds
		if kk == nil {
			kk = []canon.Kind{canon.KindInteger}
		}
		if err := kr.PrepareKeys(kk); err != nil {
			return err
		}
		r.set(kr, keyKinds == nil)
	}
	return nil
}
