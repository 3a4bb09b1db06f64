#!/usr/bin/env bash
# Builds the safereset container image from packaging/Containerfile:
#   bash packaging/build-image.sh [IMAGE]   (default safereset:latest)
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:-safereset:latest}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
CGO_ENABLED=0 go build -buildvcs=auto -trimpath -ldflags='-s -w' -o "$ctx/safereset" ./cmd/safereset
mkdir "$ctx/data"
ca=/etc/ssl/certs/ca-certificates.crt
if [ -f "$ca" ]; then cp "$ca" "$ctx/"; else : >"$ctx/ca-certificates.crt"; fi
tool=podman
command -v podman >/dev/null || tool=docker
"$tool" build --pull=never -f packaging/Containerfile -t "$image" "$ctx"
