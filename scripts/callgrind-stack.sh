#!/usr/bin/env bash
# Instructions and allocations per request of each configuration of benches/stack.rs,
# under callgrind (only `run_one` is counted: the request through the stack and the
# response dropped), and the full Shield's instructions attributed to its parts.
#
# Usage: scripts/callgrind-stack.sh [iterations=2000] [configs...]
#   (default configs: the per-component build-up of benches/stack.rs, BUILDUP)
# Build first: cargo bench --no-run -j2 --bench stack
# BIN=path/to/stack-<hash> overrides the newest target/release/deps/stack-* binary.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-2000}; shift || true
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(bare noop shield-peer shield-xff shield-key shield-classify
  shield-rl-no-headers shield-inner-body shield-miss)
bin=${BIN:-$(ls -t "${CARGO_TARGET_DIR:-target}"/release/deps/stack-* | grep -v '\.d$' | head -1)}
out=${CG_OUT:-/tmp/cg-stack}; mkdir -p "$out"
echo "binary: $bin, $n requests per configuration"
echo "| configuration | instructions/request | over previous | over bare | allocations/request |"
echo "|---|---|---|---|---|"
prev=""; bare=""
for c in "${configs[@]}"; do
  log=$(STACK_CONFIG=$c STACK_ITERS=$n valgrind --tool=callgrind --toggle-collect='*stack::run_one*' \
        --callgrind-out-file="$out/$c.out" "$bin" 2>&1)
  allocs=$(grep -o 'allocations/request: [0-9.]*' <<<"$log" | awk '{print $2}')
  ir=$(callgrind_annotate "$out/$c.out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
  per=$((ir / n))
  [ -n "$bare" ] || bare=$per
  d_prev=$([ -n "$prev" ] && echo $((per - prev)) || echo "-")
  echo "| $c | $per | $d_prev | $((per - bare)) | $allocs |"
  [ "$c" = shield-miss ] || prev=$per
done

# The parts of the full stack, inclusive per request (functions overlap: a row includes
# the rows nested in it). `sha2::sha256::compress256` is valgrind's software SHA-256,
# natively a few tens of nanoseconds a block with the CPU's SHA extensions.
parts() { # config
  [ -f "$out/$1.out" ] || return 0
  echo
  echo "### $1: inclusive instructions per request, by part"
  callgrind_annotate --inclusive=yes --threshold=100 "$out/$1.out" 2>/dev/null |
    awk -v n="$n" '
      /^ *[0-9,]+ / {
        ir=$1; gsub(",","",ir); $1=""; if ($1 ~ /^\(/) $1="";
        sub(/^ +/,""); sub(/^\([^)]*\) +/,""); name=$0; sub(/^[^:]*:/,"",name);
        print int(ir/n) "\t" name
      }' |
    grep -E 'client_ip::extract::extract|ClientIpLayer.*judge|ClientIpLayer.*decide|ApiKeyLayer.*(judge|decide)|authenticate|compress256|ClassifyLayer.*(judge|decide)|Classifier.*classify|ratelimit::key::plan|RateStore.*check|MemoryRateStore.*check|Shared.*headers|Pending.*add_to|Extensions.*insert|Extensions.*get_mut|drop_in_place<http::extensions::Extensions>|drop_in_place<.*Decided|drop_in_place<tower_shield::core::verdict::Verdict|new_request_id|RateLimitService.*call|ShieldService.*call|Front.*decide|from_shield|HeaderMap.*insert|HeaderMap.*append|HeaderValue.*from_|metrics::' |
    awk -F'\t' '!seen[$2]++' | head -60
}
parts shield-inner-body
parts shield-miss
