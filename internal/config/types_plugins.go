package config

import "time"

// Plugin is one executable that ficus runs and supervises
// (hashicorp/go-plugin, gRPC): a transform named by
// capture.sources[].transforms or a comparator named by
// proxy.routes[].compare.plugin. See README, "Writing a plugin".
type Plugin struct {
	// Name identifies the plugin in transforms, compare.plugin, metrics and
	// /readyz. Required, unique, matching [a-z0-9_-]+.
	Name string `yaml:"name"`
	// Path is the executable, relative to the working directory unless
	// absolute; a bare name too: $PATH is never searched. Required.
	Path string `yaml:"path"`
	// Args are extra command-line arguments. Optional.
	Args []string `yaml:"args,omitempty"`
	// Env are extra environment variables (the plugin also inherits
	// ficus's environment). Optional. The values may be secrets (a DSN the
	// plugin needs): they are masked whenever the config is printed.
	Env map[string]Secret `yaml:"env,omitempty"`
	// SHA256 is the expected sha256 of the executable, 64 hex digits: ficus
	// refuses to start a binary that does not match. Optional.
	SHA256 string `yaml:"sha256,omitempty"`
	// Timeout bounds one call (one batch); a call that takes longer is
	// abandoned, the plugin restarted and the batch retried. Default: 10s.
	Timeout time.Duration `yaml:"timeout"`
}

func defaultPlugin() Plugin { return Plugin{Timeout: 10 * time.Second} }
