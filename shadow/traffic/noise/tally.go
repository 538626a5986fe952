package noise

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"sync"

	"github.com/ficus-migrate/ficus/shadow/traffic/diff"
)

// Why tallies: a comparison is judged when it is made, with the noise known
// then, and the first MinSamples legacy pairs know no noise at all. Counting
// comparisons by the set of paths they differ in lets any later reader judge
// every one of them again with what is known by then, as Diffy judges on the
// aggregate: 185 early request_id differences stop counting as mismatches
// the moment request_id is known to be noise.

// TruncatedPath stands in a signature for the differences a comparison had
// beyond the diff cap: nothing is known about them, so it is never noise.
const TruncatedPath = "(truncated)"

// Defaults of NewTally.
const (
	DefaultMaxSignatures = 256
	// DefaultMaxSignatureBytes bounds the bytes of all the paths kept.
	DefaultMaxSignatureBytes = 64 << 10
)

// Signature is the sorted set of distinct generalized paths r differs in
// (TruncatedPath for a truncated result); nil for a match.
func Signature(r diff.Result) []string {
	if len(r.Diffs) == 0 {
		return nil
	}
	out := make([]string, 0, len(r.Diffs))
	for _, df := range r.Diffs {
		if df.Kind == diff.KindTruncated {
			out = append(out, TruncatedPath)
			continue
		}
		out = append(out, diff.Generalize(df.Path))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Tally counts a route's comparisons by signature since it was made. It is
// bounded: past its signatures or bytes, comparisons with a new signature
// are counted in Overflow, which always judges as a mismatch (the paths are
// not known, so they cannot be known to be noise). Safe for concurrent use.
type Tally struct {
	maxSigs, maxBytes int

	mu       sync.Mutex
	compared uint64
	sigs     map[string]*SignatureCount // by the paths joined with sigSep
	bytes    int
	overflow uint64
}

// sigSep joins a signature's paths into a map key; diff renders control
// characters of keys quoted, so no path contains it.
const sigSep = "\x00"

// NewTally returns an empty Tally; zero or negative bounds take the defaults.
func NewTally(maxSignatures, maxBytes int) *Tally {
	if maxSignatures <= 0 {
		maxSignatures = DefaultMaxSignatures
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxSignatureBytes
	}
	return &Tally{maxSigs: maxSignatures, maxBytes: maxBytes, sigs: map[string]*SignatureCount{}}
}

// Add counts one comparison whose signature is sig (nil for a match).
func (t *Tally) Add(sig []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.compared++
	if len(sig) == 0 {
		return
	}
	key := strings.Join(sig, sigSep)
	if c := t.sigs[key]; c != nil {
		c.Count++
		return
	}
	if len(t.sigs) >= t.maxSigs || t.bytes+len(key) > t.maxBytes {
		t.overflow++
		return
	}
	t.sigs[key] = &SignatureCount{Paths: slices.Clone(sig), Count: 1}
	t.bytes += len(key)
}

// Counts returns the running totals, signatures sorted.
func (t *Tally) Counts() Counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := Counts{Compared: t.compared, Overflow: t.overflow, Signatures: make([]SignatureCount, 0, len(t.sigs))}
	for _, s := range t.sigs {
		c.Signatures = append(c.Signatures, *s) // Paths are never changed after Add
	}
	slices.SortFunc(c.Signatures, func(a, b SignatureCount) int { return slices.Compare(a.Paths, b.Paths) })
	return c
}

// Counts are comparisons by signature: a Tally's running totals or the
// difference of two of them. Comparisons without a difference are Compared
// minus the rest.
type Counts struct {
	Compared   uint64           `json:"compared"`
	Signatures []SignatureCount `json:"signatures,omitempty"`
	// Overflow counts comparisons with a difference whose signature did not
	// fit the tally's bounds: always mismatches.
	Overflow uint64 `json:"overflow,omitempty"`
}

// SignatureCount is how many comparisons differed in exactly Paths.
type SignatureCount struct {
	Paths []string `json:"paths"`
	Count uint64   `json:"count"`
}

// Since returns what was counted after base, an earlier Counts of the same
// tally (a zero base: everything). A count below base's (another tally:
// the process restarted) counts from zero.
func (c Counts) Since(base Counts) Counts {
	if c.Compared < base.Compared {
		return c
	}
	before := make(map[string]uint64, len(base.Signatures))
	for _, s := range base.Signatures {
		before[strings.Join(s.Paths, sigSep)] = s.Count
	}
	out := Counts{Compared: c.Compared - base.Compared, Overflow: sub(c.Overflow, base.Overflow)}
	for _, s := range c.Signatures {
		if n := sub(s.Count, before[strings.Join(s.Paths, sigSep)]); n > 0 {
			out.Signatures = append(out.Signatures, SignatureCount{Paths: s.Paths, Count: n})
		}
	}
	return out
}

// Mismatched counts the comparisons that differ in at least one path that
// isNoise does not cover, Overflow included.
func (c Counts) Mismatched(isNoise func(path string) bool) uint64 {
	n := c.Overflow
	for _, s := range c.Signatures {
		if !slices.ContainsFunc(s.Paths, func(p string) bool { return !isNoise(p) }) {
			continue
		}
		n += s.Count
	}
	return n
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// Known is what a Detector knows now.
type Known struct {
	// Ready is set once MinSamples legacy pairs were observed: before,
	// nothing is noise, so a mismatch rate would count noise as real.
	Ready       bool  `json:"ready"`
	LegacyPairs int64 `json:"legacy_pairs"`
	MinSamples  int   `json:"min_samples"`
	// Off is set where no noise is learnt (no second legacy, noise sample
	// 0): every difference is real, and Ready is set from the start.
	Off bool `json:"off,omitempty"`
	// Paths are the generalized paths classified as noise now, sorted.
	Paths []string `json:"paths,omitempty"`
}

// Known returns the paths classified as noise now and whether the
// Detector has its minimum samples.
func (d *Detector) Known() Known {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := Known{LegacyPairs: d.legacyPairs, MinSamples: d.cfg.MinSamples, Ready: d.legacyPairs >= int64(d.cfg.MinSamples)}
	if !k.Ready {
		return k
	}
	for p := range d.paths {
		if d.isNoiseLocked(p) {
			k.Paths = append(k.Paths, p)
		}
	}
	slices.Sort(k.Paths)
	return k
}

// Part is one process's comparisons (since some base) with the noise its
// detector knows now.
type Part struct {
	Counts Counts
	Known  Known
}

// Judged is the outcome of Judge.
type Judged struct {
	Compared, Mismatched uint64
	// Ready: at least one detector has its minimum samples (or learns no
	// noise); until then Mismatched counts every difference.
	Ready bool
	// Noise are the paths judged as noise, sorted.
	Noise []string
	// LegacyPairs is the most legacy pairs any detector observed, of the
	// MinSamples it needs.
	LegacyPairs int64
	MinSamples  int
}

// Judge sums the comparisons of many processes and judges each signature
// with the noise known now. Detectors learn apart, from samples of the same
// legacy: a path that any ready detector classifies as noise is noise.
func Judge(parts []Part) Judged {
	var j Judged
	noise := map[string]bool{}
	for _, p := range parts {
		j.Compared += p.Counts.Compared
		if p.Known.Ready {
			j.Ready = true
			for _, path := range p.Known.Paths {
				noise[path] = true
			}
		}
		j.LegacyPairs = max(j.LegacyPairs, p.Known.LegacyPairs)
		j.MinSamples = max(j.MinSamples, p.Known.MinSamples)
	}
	for _, p := range parts {
		j.Mismatched += p.Counts.Mismatched(func(path string) bool { return noise[path] })
	}
	for p := range noise {
		j.Noise = append(j.Noise, p)
	}
	slices.Sort(j.Noise)
	return j
}

// Snapshot is a route's comparisons by signature so far with the noise
// known when it was taken: what a process publishes for others to judge.
type Snapshot struct {
	Counts
	Noise Known `json:"noise"`
}

// Hashed returns s with every path replaced by a digest of it, for
// snapshots that leave the process. Judging needs only to know which paths
// are equal; a path may hold a secret (a map keyed by a token, which is
// noise precisely because it differs every time), and a tally, unlike a
// mismatch record, has no exchange to redact it against.
func (s Snapshot) Hashed() Snapshot {
	out := Snapshot{Counts: Counts{Compared: s.Compared, Overflow: s.Overflow}, Noise: s.Noise}
	for _, sc := range s.Signatures {
		out.Signatures = append(out.Signatures, SignatureCount{Paths: hashPaths(sc.Paths), Count: sc.Count})
	}
	out.Noise.Paths = hashPaths(s.Noise.Paths)
	return out
}

// hashedPrefix marks a hashed path; a path is never hashed twice.
const hashedPrefix = "sha256:"

// HashPath is the digest Hashed writes for a generalized path.
func HashPath(p string) string {
	if strings.HasPrefix(p, hashedPrefix) {
		return p
	}
	sum := sha256.Sum256([]byte(p))
	// 96 bits: no two paths of a route collide in practice.
	return hashedPrefix + hex.EncodeToString(sum[:12])
}

func hashPaths(ps []string) []string {
	if ps == nil {
		return nil
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = HashPath(p)
	}
	// Sorted again: hashing does not keep the order, and Since matches
	// signatures by their paths in order.
	slices.Sort(out)
	return out
}
