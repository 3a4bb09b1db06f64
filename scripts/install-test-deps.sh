#!/bin/sh
# install-test-deps.sh installs every program the test suite starts or
# calls, so that `go test ./...` runs everything on a fresh Debian machine:
#
#   Debian: prometheus (promtool), postgresql, redis-server, haproxy,
#           chromium, podman, systemd (systemd-analyze), iproute2
#   npm:    the third-party clients and linters under tools/*/ (npm ci)
#   go:     toxiproxy's server (go install), for the database-outage tests
#
# It never starts a daemon: maintainer scripts are forbidden to start
# services while it runs (the tests start their own servers on free ports).
# Idempotent; run as root or with sudo.
set -eu
cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1; }
SUDO=
if [ "$(id -u)" -ne 0 ]; then
	if have sudo; then SUDO=sudo; else
		echo "install-test-deps: need root (or sudo) for apt-get" >&2
		exit 1
	fi
fi

POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=
if [ ! -e "$POLICY" ]; then
	printf '#!/bin/sh\n# added by safereset scripts/install-test-deps.sh during install\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
	$SUDO chmod 0755 "$POLICY"
	ADDED_POLICY=1
fi
cleanup() { if [ -n "$ADDED_POLICY" ]; then $SUDO rm -f "$POLICY"; fi; }
trap cleanup EXIT INT TERM

pkgs="prometheus postgresql redis-server haproxy chromium podman systemd iproute2"
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update
	# shellcheck disable=SC2086
	$SUDO apt-get install -y --no-install-recommends $missing
fi

# A service manager may have started daemons anyway; the tests need their
# ports free, so stop the packaged ones and keep them from starting.
for svc in prometheus postgresql redis-server haproxy; do
	if [ -d /run/systemd/system ] && have systemctl; then
		$SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
	elif [ -x "/etc/init.d/$svc" ]; then
		$SUDO "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
	fi
done

for dir in tools/*/; do
	[ -f "$dir/package-lock.json" ] || continue
	echo "install-test-deps: npm ci in $dir"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
done

gobin=$(go env GOPATH)/bin
if ! "$gobin/server" -version 2>&1 | grep -q toxiproxy; then
	echo "install-test-deps: go install toxiproxy server"
	go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0
fi
echo "install-test-deps: done"
