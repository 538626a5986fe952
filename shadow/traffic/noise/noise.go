// Package noise learns, per route and per generalized field path, how often
// two legacy answers differ from each other, and separates real
// legacy-vs-new differences from noise in the manner of Diffy: a path is
// real only when its legacy-vs-new difference rate clearly exceeds its
// legacy-vs-legacy rate.
package noise

import (
	"sort"
	"sync"

	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
)

// Defaults applied to zero Config fields.
const (
	DefaultMinSamples        = 20
	DefaultRelativeThreshold = 2.0
	DefaultAbsoluteThreshold = 0.01
	DefaultMaxPaths          = 4096
	// MaxPathBytes bounds one tracked path; longer paths (hostile keys)
	// are not tracked and count as overflow.
	MaxPathBytes = 1024
)

// Config tunes a Detector. Zero values take the defaults.
type Config struct {
	// MinSamples is the number of legacy-pair observations needed before
	// anything is classified as noise (default 20).
	MinSamples int
	// RelativeThreshold: a path is real only when its candidate diff rate
	// exceeds RelativeThreshold x its legacy-pair rate (default 2.0).
	RelativeThreshold float64
	// AbsoluteThreshold: ... and exceeds the legacy-pair rate by more than
	// this (default 0.01).
	AbsoluteThreshold float64
	// MaxPaths caps the distinct paths tracked (default 4096).
	MaxPaths int
}

// FieldStat is the learned state of one generalized path.
type FieldStat struct {
	Path string `json:"path"`
	// CandidateRate is the share of legacy-vs-new comparisons in which the
	// path differed; LegacyRate the same for legacy-vs-legacy ones.
	CandidateRate  float64 `json:"candidate_rate"`
	LegacyRate     float64 `json:"legacy_rate"`
	CandidateDiffs int64   `json:"candidate_diffs"`
	LegacyDiffs    int64   `json:"legacy_diffs"`
	Noise          bool    `json:"noise"`
}

// Stats are a Detector's totals.
type Stats struct {
	LegacyPairs int64 `json:"legacy_pairs"`
	Candidates  int64 `json:"candidates"`
	// Overflow counts path observations dropped because the path cap was
	// reached or the path was too long; such paths are always real.
	Overflow int64 `json:"overflow"`
	Paths    int   `json:"paths"`
}

type counts struct{ legacy, candidate int64 }

// Detector is per route and safe for concurrent use. Memory is bounded by
// MaxPaths x MaxPathBytes.
type Detector struct {
	cfg Config

	mu          sync.Mutex
	paths       map[string]*counts
	legacyPairs int64
	candidates  int64
	overflow    int64
}

// New returns a Detector; zero or negative Config fields take defaults.
func New(cfg Config) *Detector {
	if cfg.MinSamples <= 0 {
		cfg.MinSamples = DefaultMinSamples
	}
	if cfg.RelativeThreshold <= 0 {
		cfg.RelativeThreshold = DefaultRelativeThreshold
	}
	if cfg.AbsoluteThreshold <= 0 {
		cfg.AbsoluteThreshold = DefaultAbsoluteThreshold
	}
	if cfg.MaxPaths <= 0 {
		cfg.MaxPaths = DefaultMaxPaths
	}
	return &Detector{cfg: cfg, paths: map[string]*counts{}}
}

// ObserveLegacyPair records the comparison of two legacy answers.
func (d *Detector) ObserveLegacyPair(r diff.Result) {
	d.observe(r, true)
}

// ObserveCandidate records a legacy-vs-new comparison. Call it before
// Split for the same result so that the rates include it.
func (d *Detector) ObserveCandidate(r diff.Result) {
	d.observe(r, false)
}

func (d *Detector) observe(r diff.Result, legacy bool) {
	paths := generalized(r)
	d.mu.Lock()
	defer d.mu.Unlock()
	if legacy {
		d.legacyPairs++
	} else {
		d.candidates++
	}
	for _, p := range paths {
		c := d.paths[p]
		if c == nil {
			if len(d.paths) >= d.cfg.MaxPaths || len(p) > MaxPathBytes {
				d.overflow++
				continue
			}
			c = &counts{}
			d.paths[p] = c
		}
		if legacy {
			c.legacy++
		} else {
			c.candidate++
		}
	}
}

// generalized returns the distinct generalized paths of r: a path counts
// once per comparison however many array elements differ. The truncation
// marker is not a field and is skipped.
func generalized(r diff.Result) []string {
	out := make([]string, 0, len(r.Diffs))
	seen := make(map[string]bool, len(r.Diffs))
	for _, df := range r.Diffs {
		if df.Kind == diff.KindTruncated {
			continue
		}
		p := diff.Generalize(df.Path)
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// Split classifies the diffs of a legacy-vs-new result. Until MinSamples
// legacy pairs were observed, and for any path never seen differing
// between two legacy answers, every diff is real.
func (d *Detector) Split(r diff.Result) (real, noise []diff.Diff) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, df := range r.Diffs {
		if df.Kind != diff.KindTruncated && d.isNoiseLocked(diff.Generalize(df.Path)) {
			noise = append(noise, df)
		} else {
			real = append(real, df)
		}
	}
	return real, noise
}

func (d *Detector) isNoiseLocked(path string) bool {
	if d.legacyPairs < int64(d.cfg.MinSamples) {
		return false
	}
	c := d.paths[path]
	if c == nil || c.legacy == 0 {
		return false
	}
	legacyRate, candRate := d.ratesLocked(c)
	if d.candidates == 0 {
		// Split before any observation: the path differs in this answer.
		candRate = 1
	}
	clearlyExceeds := candRate > d.cfg.RelativeThreshold*legacyRate &&
		candRate > legacyRate+d.cfg.AbsoluteThreshold
	return !clearlyExceeds
}

func (d *Detector) ratesLocked(c *counts) (legacyRate, candRate float64) {
	if d.legacyPairs > 0 {
		legacyRate = float64(c.legacy) / float64(d.legacyPairs)
	}
	if d.candidates > 0 {
		candRate = float64(c.candidate) / float64(d.candidates)
	}
	return legacyRate, candRate
}

// IsNoise reports whether a (generalized or concrete) path is currently
// classified as noise.
func (d *Detector) IsNoise(path string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.isNoiseLocked(diff.Generalize(path))
}

// Fields reports the per-path statistics, sorted by path.
func (d *Detector) Fields() []FieldStat {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]FieldStat, 0, len(d.paths))
	for p, c := range d.paths {
		lr, cr := d.ratesLocked(c)
		out = append(out, FieldStat{Path: p, CandidateRate: cr, LegacyRate: lr,
			CandidateDiffs: c.candidate, LegacyDiffs: c.legacy, Noise: d.isNoiseLocked(p)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Stats returns the Detector's totals.
func (d *Detector) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Stats{LegacyPairs: d.legacyPairs, Candidates: d.candidates, Overflow: d.overflow, Paths: len(d.paths)}
}
