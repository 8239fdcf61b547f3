#!/usr/bin/env sh
# The table-full flood probe (issue 17): a flood of 1.05 x max_keys distinct clients at
# 1 request a minute each fills the memory store; how long does a fresh client wait?
# Usage: scripts/flood_probe.sh [max_keys]   (default 100000)
set -eu
cd "$(dirname "$0")/.."
keys="${1:-100000}"
cargo build -q -j1 --example flood_probe --features ratelimit
for family in v4 v6; do
  target/debug/examples/flood_probe "$family" "$keys"
done
