#!/usr/bin/env bash
# Install what building, running and testing Bunker needs on Debian 12, as root. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(ca-certificates git busybox-static docker-registry docker-compose apache2-utils btrfs-progs iptables nftables iproute2 util-linux procps gcc libc6-dev)
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "installing apt packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's package starts a registry on :5000 through systemd where systemd runs; tests start their own.
command -v systemctl >/dev/null && systemctl disable --now docker-registry >/dev/null 2>&1 || true

if ! command -v npm >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
# Bun is pinned through the npm package in package.json.
if [ ! -x node_modules/.bin/bun ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
export PATH="$PWD/node_modules/.bin:$PATH"
bun --version >/dev/null
bun run build.ts
