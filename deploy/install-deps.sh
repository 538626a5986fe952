#!/usr/bin/env bash
# Installs the system packages ficus's tests, demo and benchmarks need, on Debian 12.
# As root, missing packages are installed with apt-get; otherwise the one command to
# run is printed and the script fails. Usage: deploy/install-deps.sh [test|demo|bench]
set -euo pipefail
what=${1:-test}

need=()
make_locale=
have_pg() { [ -x /usr/lib/postgresql/15/bin/postgres ] && [ -x /usr/lib/postgresql/15/bin/initdb ]; }
have_maria() { command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; }
have_pg || need+=(postgresql-15)
have_maria || need+=(mariadb-server)
# The dashboard test drives a real headless Chromium.
if [ "$what" = test ]; then
	command -v chromium >/dev/null 2>&1 || need+=(chromium)
	# The rollout's cluster test runs three real nats-server processes.
	command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need+=(nats-server)
	# The rollout's prometheus gate queries a real Prometheus server scraping a test exporter.
	command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ] || need+=(prometheus)
	# PostgreSQL money is tested under a non-C lc_monetary (German: "1.234,50 €"),
	# which the server accepts only for a locale the system has.
	if ! locale -a 2>/dev/null | grep -qix 'de_DE.utf8'; then
		make_locale=1
		[ -e /usr/share/i18n/locales/de_DE ] || need+=(locales)
	fi
fi
if [ "$what" = bench ]; then
	command -v wrk >/dev/null 2>&1 || need+=(wrk)
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
	# The other two reference proxies of `ficusbench proxy`, beside nginx. Like nginx-light,
	# caddy's postinst would start its :80 server; policy-rc.d below stops that too.
	command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
	command -v caddy >/dev/null 2>&1 || need+=(caddy)
fi

# gen_locale makes de_DE.UTF-8 when the test needs it (after its package is in).
gen_locale() {
	[ -n "$make_locale" ] || return 0
	if [ "$(id -u)" != 0 ]; then
		echo "ficus: the locale de_DE.UTF-8 is missing; make it with: sudo localedef -i de_DE -f UTF-8 de_DE.UTF-8" >&2
		exit 1
	fi
	echo "ficus: making the locale de_DE.UTF-8 …" >&2
	localedef -i de_DE -f UTF-8 de_DE.UTF-8
}
[ ${#need[@]} -eq 0 ] && { gen_locale; exit 0; }
if [ "$(id -u)" != 0 ]; then
	echo "ficus: missing system packages: ${need[*]}" >&2
	echo "install them with: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
	exit 1
fi
echo "ficus: installing ${need[*]} …" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d keeps the packages from starting their own servers: ficus starts
# throwaway instances itself and must not take the standard ports.
rc=/usr/sbin/policy-rc.d
created_rc=
if [ ! -e "$rc" ]; then printf '#!/bin/sh\nexit 101\n' >"$rc" && chmod +x "$rc" && created_rc=1; fi
apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
[ -n "$created_rc" ] && rm -f "$rc"
gen_locale
exit 0
