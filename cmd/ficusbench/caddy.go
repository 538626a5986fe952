package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// caddyConf is Caddy set up like the nginx row, as native JSON (no
// Caddyfile adapter): one plain-HTTP server on listen, every request to
// reverse_proxy with an upstream keep-alive pool of 64 idle connections and
// no compression (as nginx, refproxy and ficus). reverse_proxy sets
// X-Forwarded-For/-Proto/-Host itself. No access log (Caddy logs requests
// only when told to), other logs at WARN like nginx's error_log; no admin
// endpoint, no automatic HTTPS, no config autosave, storage in dir.
func caddyConf(dir string, listen int, upstream string) ([]byte, error) {
	type obj = map[string]any
	conf := obj{
		"admin":   obj{"disabled": true, "config": obj{"persist": false}},
		"logging": obj{"logs": obj{"default": obj{"level": "WARN"}}},
		"storage": obj{"module": "file_system", "root": filepath.Join(dir, "data")},
		"apps": obj{"http": obj{
			"grace_period": "1s",
			"servers": obj{"bench": obj{
				"listen":          []string{addr(listen)},
				"protocols":       []string{"h1"},
				"automatic_https": obj{"disable": true},
				"routes": []obj{{"handle": []obj{{
					"handler":   "reverse_proxy",
					"upstreams": []obj{{"dial": upstream}},
					"transport": obj{
						"protocol":    "http",
						"compression": false,
						"keep_alive": obj{
							"enabled":                 true,
							"max_idle_conns_per_host": 64,
							"idle_timeout":            "120s",
						},
					},
				}}}},
			}},
		}},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// caddyEnv puts HOME and the XDG dirs under dir, so Caddy writes nothing
// outside it.
func caddyEnv(dir string) []string {
	return []string{"HOME=" + dir, "XDG_CONFIG_HOME=" + filepath.Join(dir, "config"), "XDG_DATA_HOME=" + filepath.Join(dir, "data")}
}

// startCaddy runs "caddy run" on a config in its own temp dir; a missing
// binary is errNotInstalled, so the row is skipped.
func (b *proxyBench) startCaddy(ctx context.Context, upstream string) (string, error) {
	bin, err := findBinary("caddy", "/usr/bin/caddy")
	if err != nil {
		return "", err
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(b.tmp, "caddy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("caddy dir: %w", err)
	}
	conf, err := caddyConf(dir, port, upstream)
	if err != nil {
		return "", fmt.Errorf("caddy config: %w", err)
	}
	path := filepath.Join(dir, "caddy.json")
	if err := os.WriteFile(path, conf, 0o644); err != nil {
		return "", fmt.Errorf("caddy config: %w", err)
	}
	c, err := b.start(startChild("caddy", filepath.Join(dir, "stderr.log"), caddyEnv(dir), bin, "run", "--config", path))
	if err != nil {
		return "", err
	}
	base := "http://" + addr(port)
	return base, waitHTTP(ctx, c, base+"/")
}
