package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ficus-migrate/ficus/shadow/data/canon"
)

// The first level of a run that sums row hashes (see digests) is cut at
// the quantiles of a random sample of keys instead of at every n-th key
// of one scan of the key index: its buckets only need to be about even
// (a bucket larger than LeafRows is cut again when it differs), and on a
// heap that does not follow the key the numbering scan costs as much as a
// tenth of the run (1M UUID keys: ~0.35 s of PostgreSQL's ~3.3 s).

// sampler is a side that can draw keys at random.
type sampler interface {
	// tupleSample returns the keys of about n of its est rows drawn at
	// random, unordered; ok is false when the side cannot sample (a
	// query side).
	tupleSample(ctx context.Context, n, est int64) (keys []canon.Key, ok bool, err error)
}

// samplePerBucket keys per bucket keep buckets within about ±15 % of
// their size (1/√50).
const samplePerBucket = 50

// sampledBounds cuts the key space into about buckets pieces at the
// quantiles of a sample drawn by the first side of sides that can; ok is
// false when none can.
func (r *run) sampledBounds(ctx context.Context, est, buckets int64, sides ...tupleSide) ([]canon.Key, bool, error) {
	for _, s := range sides {
		sm, can := s.(sampler)
		if !can {
			continue
		}
		keys, ok, err := sm.tupleSample(ctx, buckets*samplePerBucket, est)
		if err != nil {
			return nil, false, err
		}
		if !ok || int64(len(keys)) < buckets {
			// Too few keys drawn (a small table's few pages) would make
			// a few huge buckets: the exact cut instead.
			continue
		}
		r.sampledKeys.Add(int64(len(keys)))
		slices.SortFunc(keys, func(a, b canon.Key) int { return canon.CompareKeys(r.keyKinds, a, b) })
		var out []canon.Key
		for i := int64(1); i < buckets; i++ {
			if j := i * int64(len(keys)) / buckets; j < int64(len(keys)) {
				out = append(out, keys[j])
			}
		}
		return out, true, nil
	}
	return nil, false, nil
}

// tupleSample implements sampler. On a heap that does not follow the key
// a sample of whole pages (SYSTEM: it reads only those pages) is as random
// as one of rows; on one that does, a page holds a run of neighbouring
// keys, so rows are drawn one by one (BERNOULLI: one pass over the pages,
// building no row text).
func (p *Postgres) tupleSample(ctx context.Context, n, est int64) ([]canon.Key, bool, error) {
	if p.cfg.Table.IsQuery() || est <= 0 {
		return nil, false, nil
	}
	pct := min(100, 100*float64(n)/float64(est))
	method := "BERNOULLI"
	if !p.correlated {
		method = "SYSTEM"
	}
	tq := p.tq
	params := canon.NewParams(canon.Postgres)
	query := "SELECT " + strings.Join(tq.key.Texts(), ", ") + " FROM " + tq.from + " TABLESAMPLE " + method + " (" +
		strconv.FormatFloat(pct, 'f', 6, 64) + ")" + tq.where(params, keyRange{}) + tq.window
	keys, err := tq.scanKeys(ctx, pgScanner(p.cfg.Pool), query, params.Args)
	if err != nil {
		return nil, false, fmt.Errorf("sample keys of %s: %w", tq.from, err)
	}
	return keys, true, nil
}
