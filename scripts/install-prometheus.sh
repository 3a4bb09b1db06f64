#!/bin/sh
# install-prometheus.sh makes promtool and prometheus available on PATH for
# the metrics tests (promtool check/test rules, promtool check metrics and the
# end-to-end scrape test). It is idempotent: when both are already on PATH it
# does nothing.
#
# It installs Debian's "prometheus" package, which provides /usr/bin/prometheus
# and /usr/bin/promtool, without recommends (no node exporter daemon) and
# without letting the package start its own Prometheus daemon: that daemon
# listens on :9090, the port safereset's ops listener uses by default.
#
# Usage: sh scripts/install-prometheus.sh   (as root, or with sudo available)
set -eu

have() { command -v "$1" >/dev/null 2>&1; }

if have promtool && have prometheus; then
	echo "install-prometheus: promtool and prometheus already on PATH: $(command -v promtool) $(command -v prometheus)"
	exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	if have sudo; then
		SUDO=sudo
	else
		echo "install-prometheus: need root (or sudo) to apt-get install prometheus" >&2
		exit 1
	fi
fi

# Forbid maintainer scripts from starting services while we install, unless
# the machine already has a policy (Docker images ship one that exits 101).
POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=
if [ ! -e "$POLICY" ]; then
	printf '#!/bin/sh\n# added by safereset scripts/install-prometheus.sh during install\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
	$SUDO chmod 0755 "$POLICY"
	ADDED_POLICY=1
fi
cleanup() {
	if [ -n "$ADDED_POLICY" ]; then
		$SUDO rm -f "$POLICY"
	fi
}
trap cleanup EXIT INT TERM

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends prometheus

# If a service manager started the system daemon anyway (e.g. a machine
# running systemd, which ignores policy-rc.d for units it starts itself),
# stop it and keep it from starting at boot.
if [ -d /run/systemd/system ] && have systemctl; then
	$SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
elif [ -x /etc/init.d/prometheus ]; then
	$SUDO /etc/init.d/prometheus stop >/dev/null 2>&1 || true
	if have update-rc.d; then
		$SUDO update-rc.d prometheus disable >/dev/null 2>&1 || true
	fi
fi

if ! have promtool || ! have prometheus; then
	echo "install-prometheus: prometheus package installed but promtool/prometheus not on PATH" >&2
	exit 1
fi
echo "install-prometheus: installed $(prometheus --version 2>&1 | head -n 1)"
