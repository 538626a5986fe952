package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// nginxCommon is shared by both nginx roles: everything under the temp
// prefix, no access log, and keep-alive limits high enough that neither nginx
// nor wrk's connections are recycled during a run (ficus never recycles).
const nginxCommon = `daemon off;
master_process on;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
%[2]s
}
`

// nginxBackendConf serves payload from memory on every port.
func nginxBackendConf(dir string, ports []int) string {
	var b strings.Builder
	b.WriteString("  server {\n")
	for _, p := range ports {
		fmt.Fprintf(&b, "    listen %s;\n", addr(p))
	}
	fmt.Fprintf(&b, "    location / {\n      default_type application/json;\n      return 200 '%s';\n    }\n  }", payload)
	return fmt.Sprintf(nginxCommon, dir, b.String())
}

// nginxProxyConf is the reference reverse proxy: proxy_pass with upstream
// keep-alive, HTTP/1.1 and X-Forwarded-For, like ficus does.
func nginxProxyConf(dir string, listen int, upstream string) string {
	body := fmt.Sprintf(`  upstream backend {
    server %s;
    keepalive 64;
    keepalive_requests 10000000;
  }
  server {
    listen %s;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
    }
  }`, upstream, addr(listen))
	return fmt.Sprintf(nginxCommon, dir, body)
}

// startNginx writes conf into dir and runs nginx in the foreground with its
// own prefix, so it never touches /etc/nginx or the system's instance.
func startNginx(name, dir, conf string) (*child, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("nginx dir: %w", err)
	}
	// Workers drop to "nobody" when started as root; let them read the prefix.
	_ = os.Chmod(dir, 0o755)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("nginx config: %w", err)
	}
	bin, err := nginxBinary()
	if err != nil {
		return nil, err
	}
	return startChild(name, filepath.Join(dir, "stderr.log"), nil, bin, "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
}

func nginxBinary() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx", nil
	}
	return "", fmt.Errorf("nginx not found (run deploy/install-deps.sh bench as root)")
}
