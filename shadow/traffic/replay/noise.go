package replay

import (
	"github.com/ficus-migrate/ficus/shadow/traffic/noise"
	"github.com/ficus-migrate/ficus/shadow/traffic/record"
)

// NoiseOfTallies returns, for Config.KnownNoise, what the shadow's noise
// detectors of the route know (the tallies on FICUS_SHADOW): a path any
// ready detector classifies as noise is noise, as report.BuildTallied
// judges. Tallies carry hashed paths (noise.Snapshot.Hashed). Nil when
// they know nothing.
func NoiseOfTallies(tallies []record.Tally) func(path string) bool {
	known := map[string]bool{}
	for _, t := range tallies {
		if !t.Noise.Ready {
			continue
		}
		for _, p := range t.Noise.Paths {
			known[noise.HashPath(p)] = true
		}
	}
	if len(known) == 0 {
		return nil
	}
	return func(p string) bool { return known[noise.HashPath(p)] }
}
