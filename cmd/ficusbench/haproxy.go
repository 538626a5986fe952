package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// haproxyConfText is HAProxy set up like the nginx row: HTTP mode, keep-alive on
// both sides with idle upstream connections shared between client
// connections (http-reuse always; pool-max-conn matches nginx's keepalive 64),
// X-Forwarded-For/-Proto/-Host like ficus, and no "log" line, so nothing is
// logged. Threads default to one per CPU, like worker_processes auto.
func haproxyConfText(listen, upstream string) string {
	return fmt.Sprintf(haproxyConf, listen, upstream)
}

const haproxyConf = `global
  maxconn 8192
defaults
  mode http
  option http-keep-alive
  option forwardfor
  http-reuse always
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s
frontend bench
  bind %s
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Host %%[req.hdr(host)]
  default_backend legacy
backend legacy
  server legacy %s pool-max-conn 64
`

// startHAProxy runs HAProxy in the foreground (-db) on a config in its own
// temp dir; a missing binary is errNotInstalled, so the row is skipped.
func (b *proxyBench) startHAProxy(ctx context.Context, upstream string) (string, error) {
	bin, err := findBinary("haproxy", "/usr/sbin/haproxy")
	if err != nil {
		return "", err
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(b.tmp, "haproxy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("haproxy dir: %w", err)
	}
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(haproxyConfText(addr(port), upstream)), 0o644); err != nil {
		return "", fmt.Errorf("haproxy config: %w", err)
	}
	c, err := b.start(startChild("haproxy", filepath.Join(dir, "stderr.log"), nil, bin, "-db", "-f", path))
	if err != nil {
		return "", err
	}
	base := "http://" + addr(port)
	return base, waitHTTP(ctx, c, base+"/")
}
