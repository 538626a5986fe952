package config

import "time"

// Shadow configures the process-wide part of shadow traffic: the worker
// pool that sends mirrored requests, and how mismatches are recorded.
// Which routes are shadowed is said per route (proxy.routes[].shadow).
type Shadow struct {
	// Workers is the number of goroutines sending mirrored requests and
	// comparing answers, 1 to 4096. Default: 64.
	Workers int `yaml:"workers"`
	// Queue is the number of mirrored requests that may wait for a worker,
	// 1 to 1000000. A full queue drops the mirror (and counts it); it never
	// blocks a client. Default: 10000.
	Queue int `yaml:"queue"`
	// QueueBytes caps the memory held by mirrored requests not yet
	// compared (a size such as "64MiB"): request bodies, the served
	// answers' bodies and headers, and shadow answers waiting in a batch.
	// A request that would take it past the cap is dropped (and counted);
	// it never blocks a client. Default: 64MiB, applied by the mirror: 0
	// here, and left out of the printed configuration, means the default.
	QueueBytes int64 `yaml:"queue_bytes,omitempty"`
	// RedactHeaders is an older spelling of Redact.Headers, to which it adds.
	RedactHeaders []string `yaml:"redact_headers,omitempty"`
	// Redact says what else is secret in mismatch records, besides the
	// built-in list, and the key secrets are hashed with.
	Redact Redact `yaml:"redact,omitempty"`
	// RecordBodyBytes caps each body stored in a mismatch record (a size
	// such as "16KiB"). Default: 16384.
	RecordBodyBytes int64 `yaml:"record_body_bytes"`
	// MaxAge is how long mismatch records are kept on the JetStream stream
	// FICUS_SHADOW. Default: 168h (7 days).
	MaxAge time.Duration `yaml:"max_age"`
}

// RouteShadow turns on shadow traffic for a route: each sampled request is
// also sent to the side that did not serve it, and both answers are
// compared. The client always gets the serving side's answer.
type RouteShadow struct {
	// Enabled turns shadowing on for this route. Default: false.
	Enabled bool `yaml:"enabled"`
	// Sample is the share of matching requests mirrored, 0 to 1.
	// Default: 1.
	Sample float64 `yaml:"sample"`
	// UnsafeMethods also mirrors methods other than GET, HEAD and OPTIONS,
	// which may have side effects on the shadow side. ficus logs a warning
	// at start when it is on. Default: false.
	UnsafeMethods bool `yaml:"unsafe_methods"`
	// MaxBodyBytes caps the request and response bodies kept for the
	// comparison (a size such as "1MiB"); longer bodies are compared by
	// length and hash. Default: 1048576.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// Timeout bounds each mirrored request, from sending it to reading its
	// whole answer. Must be greater than 0. Default: 2s.
	Timeout time.Duration `yaml:"timeout"`
}

// Compare says how the two answers of a shadowed request are compared.
type Compare struct {
	// Ignore lists differences never reported: JSON paths such as
	// $.meta.request_id or $.items[*].updated_at (segments .key, [n], [*]
	// and .*), and header:NAME.
	Ignore []string `yaml:"ignore,omitempty"`
	// Headers are the response headers compared besides the status code and
	// the body. Default: none.
	Headers []string `yaml:"headers,omitempty"`
	// Unordered lists JSON array paths compared regardless of order.
	Unordered []string `yaml:"unordered,omitempty"`
	// NumericTolerance is the absolute-or-relative difference under which
	// two JSON numbers count as equal, 0 or more. Default: 0.
	NumericTolerance float64 `yaml:"numeric_tolerance"`
	// Plugin names a comparator plugin (from plugins) that normalizes both
	// answers, or judges them, before the diff; it runs in the shadow
	// workers, in batches, never on the client's path. Optional.
	Plugin string `yaml:"plugin,omitempty"`
}

// Noise configures noise detection: ficus learns how often two legacy
// answers to the same request differ, per field, and reports a
// legacy-vs-new difference as real only when it is clearly more frequent.
type Noise struct {
	// SecondLegacy is the base URL of a second legacy instance, asked
	// alongside legacy for every mirrored request. Optional.
	SecondLegacy string `yaml:"second_legacy,omitempty"`
	// Sample is the share of mirrored requests sent to legacy a second
	// time to learn the noise when SecondLegacy is not set, 0 to 1 (0 turns
	// noise detection off). Default: 0.1.
	Sample float64 `yaml:"sample"`
	// MinSamples is the number of legacy-vs-legacy comparisons needed
	// before any field is called noise. Default: 20.
	MinSamples int `yaml:"min_samples"`
	// RelativeThreshold: a field's difference is real only when its
	// legacy-vs-new rate exceeds this multiple of its legacy-vs-legacy
	// rate, 1 or more. Default: 2.
	RelativeThreshold float64 `yaml:"relative_threshold"`
	// AbsoluteThreshold: ... and exceeds it by at least this much, 0 to 1.
	// Default: 0.01.
	AbsoluteThreshold float64 `yaml:"absolute_threshold"`
}

func defaultShadow() Shadow {
	return Shadow{Workers: 64, Queue: 10000, RecordBodyBytes: 16 << 10, MaxAge: 168 * time.Hour}
}

func defaultRouteShadow() RouteShadow {
	return RouteShadow{Sample: 1, MaxBodyBytes: 1 << 20, Timeout: 2 * time.Second}
}

func defaultNoise() Noise {
	return Noise{Sample: 0.1, MinSamples: 20, RelativeThreshold: 2, AbsoluteThreshold: 0.01}
}

// ShadowEnabled reports whether any route has shadowing on.
func (p Proxy) ShadowEnabled() bool {
	for _, r := range p.Routes {
		if r.Shadow.Enabled {
			return true
		}
	}
	return false
}
