package config

import "time"

// RouteRecord turns on the recording of a route's traffic for `ficus
// replay`: each sampled exchange (the request, the answer the client got,
// its timing and the side that served it) is written, redacted like shadow
// records, to the JetStream stream FICUS_TRAFFIC, subject
// ficus.traffic.<route>. Recording is off the client's path and bounded: a
// full buffer drops the record and counts it.
type RouteRecord struct {
	// Enabled turns recording on for this route. Default: false.
	Enabled bool `yaml:"enabled"`
	// Sample is the share of matching requests recorded, 0 to 1.
	// Default: 0.05.
	Sample float64 `yaml:"sample"`
	// MaxBodyBytes caps the request and answer bodies kept per exchange (a
	// size such as "256KiB"); a longer body is recorded cut, and marked so.
	// Default: 262144.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Methods are the request methods recorded. Default: GET, HEAD.
	Methods []string `yaml:"methods,omitempty"`
	// MaxAge is how long records are kept on the stream. Default: 168h.
	MaxAge time.Duration `yaml:"max_age"`
	// MaxBytes caps the stream (the sum over the recorded routes); the
	// oldest records go first. Default: 1GiB.
	MaxBytes int64 `yaml:"max_bytes"`
	// MaxPerSecond caps the exchanges this process records of the route
	// each second (bursts up to one second's worth), 0 for no cap: a
	// recorded exchange costs the process tens of microseconds of CPU
	// (redaction, encoding, the publish), so an uncapped recording of a
	// busy route takes CPU from the requests it records. Default: 1000.
	MaxPerSecond float64 `yaml:"max_per_second"`
}

// DefaultRecordMaxPerSecond is record.max_per_second's default: about 5 %
// of one core at the recorder's measured cost per exchange (50-70 µs).
const DefaultRecordMaxPerSecond = 1000

func defaultRouteRecord() RouteRecord {
	return RouteRecord{Sample: 0.05, MaxBodyBytes: 256 << 10, Methods: []string{"GET", "HEAD"},
		MaxAge: 168 * time.Hour, MaxBytes: 1 << 30, MaxPerSecond: DefaultRecordMaxPerSecond}
}

// RecordEnabled reports whether any route records its traffic.
func (p Proxy) RecordEnabled() bool {
	for _, r := range p.Routes {
		if r.Record.Enabled {
			return true
		}
	}
	return false
}
