#!/usr/bin/env bash
# Record scripts/bytecode-order.txt, the profile build.ts lays the binary's bytecode out by: run the memory benchmark
# (a daemon starts, pulls, runs containers, stops) with BUN_BYTECODE_ORDER_OUT, which makes the daemon write the
# functions it ran when it exits; then build again with it. Rerun after large changes to the daemon's code (a stale
# profile still places every function it knows). As root, like the benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
profile="$(mktemp)"
results="$(mktemp)"
trap 'rm -f "$profile" "$results"' EXIT

bun run build.ts
BUN_BYTECODE_ORDER_OUT="$profile" bun run bench --only memory --without-docker --out "$results"
[ -s "$profile" ] || { echo "the daemon wrote no bytecode profile" >&2; exit 1; }
install -m 0644 "$profile" scripts/bytecode-order.txt
bun run build.ts
echo "scripts/bytecode-order.txt: $(grep -c . scripts/bytecode-order.txt) entries"
