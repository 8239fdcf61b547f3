#!/usr/bin/env bash
# End-to-end cost of the stack: requests/s and p50/p99 latency of a hello-world axum route,
# bare and behind each tower-shield configuration and tower-governor, with the server and
# the load generator (wrk, Debian) pinned to separate cores, several A/B-interleaved rounds.
# Then a memory run: a flood of distinct client IPs through the full stack, RSS before/after.
#
# Usage: scripts/loadtest.sh [rounds=3] [seconds=5] [flood_requests=1000000]
#        LOADTEST_ONLY="bare governor ratelimit-peer-no-headers" scripts/loadtest.sh 5 5
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; secs=${2:-5}; flood_n=${3:-1000000}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release -q --example bench_server
bin=${CARGO_TARGET_DIR:-target}/release/examples/bench_server
port=19090
cores=$(nproc)
srv_pin=(); gen_pin=()
if [ "$cores" -ge 2 ] && command -v taskset >/dev/null; then srv_pin=(taskset -c 0); gen_pin=(taskset -c 1); fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"; kill $(jobs -p) 2>/dev/null || true' EXIT

start() { # mode
  "${srv_pin[@]}" "$bin" --mode "$1" --listen "127.0.0.1:$port" > "$tmp/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && return; sleep 0.05; done
  echo "server $1 did not start"; cat "$tmp/server.log"; exit 1
}
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
# utime + stime of the server, all threads, in clock ticks (a stolen tick is not counted).
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }

# The signed 1 KiB POST. Signed again before each run that sends it: a signature is valid
# for a 5-minute window, shorter than a whole load test.
sign_post() {
  "$bin" --print-signed /signed > "$tmp/signed.txt"
  {
    echo 'wrk.method = "POST"'
    echo "wrk.body = string.rep(\"x\", 1024)"
    echo 'wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"'
    echo 'wrk.headers["Accept"] = "*/*"'
    echo 'wrk.headers["Accept-Language"] = "en"'
    echo 'wrk.headers["Accept-Encoding"] = "gzip"'
    echo 'wrk.headers["X-Forwarded-For"] = "81.2.69.160"'
    echo 'wrk.headers["X-API-Key"] = "tsk_bench_key_0123456789"'
    while IFS=': ' read -r k v; do echo "wrk.headers[\"$k\"] = \"$v\""; done < "$tmp/signed.txt"
  } > "$tmp/post.lua"
}

# The GET plus a proof-of-work pass for shield-pow (the server's fixed bench secret).
{ cat scripts/loadtest/get.lua; echo "wrk.headers[\"X-Shield-Token\"] = \"$("$bin" --print-pass)\""; } > "$tmp/pow.lua"

# name mode script path
configs=(
  "bare|bare|scripts/loadtest/get.lua|/"
  "ratelimit|ratelimit|scripts/loadtest/get.lua|/"
  "ratelimit-no-headers|ratelimit-no-headers|scripts/loadtest/get.lua|/"
  "ratelimit-stacked|ratelimit-stacked|scripts/loadtest/get.lua|/"
  "ratelimit-stacked-inner-body|ratelimit-stacked-inner-body|scripts/loadtest/get.lua|/"
  "ratelimit-peer|ratelimit-peer|scripts/loadtest/get.lua|/"
  "ratelimit-peer-no-headers|ratelimit-peer-no-headers|scripts/loadtest/get.lua|/"
  "ratelimit-peer-inner-body|ratelimit-peer-inner-body|scripts/loadtest/get.lua|/"
  "ratelimit-peer-no-headers-inner-body|ratelimit-peer-no-headers-inner-body|scripts/loadtest/get.lua|/"
  "governor|governor|scripts/loadtest/get.lua|/"
  "governor-headers|governor-headers|scripts/loadtest/get.lua|/"
  "shield|shield|scripts/loadtest/get.lua|/"
  "shield-pow|shield-pow|$tmp/pow.lua|/"
  "shield-inner-body|shield-inner-body|scripts/loadtest/get.lua|/"
  "shield-pow-inner-body|shield-pow-inner-body|$tmp/pow.lua|/"
  "bare-post|bare|$tmp/post.lua|/signed"
  "shield-sig|shield-sig|$tmp/post.lua|/signed"
  "shield-sig-inner-body|shield-sig-inner-body|$tmp/post.lua|/signed"
  "ratelimit-peer-outer|ratelimit-peer-outer|scripts/loadtest/get.lua|/"
  "governor-outer|governor-outer|scripts/loadtest/get.lua|/"
  "shield-outer|shield-outer|scripts/loadtest/get.lua|/"
  "shield-pow-outer|shield-pow-outer|$tmp/pow.lua|/"
  "shield-sig-outer|shield-sig-outer|$tmp/post.lua|/signed"
)
# LOADTEST_ONLY="bare governor ..." runs only those configurations (and skips the flood).
if [ -n "${LOADTEST_ONLY:-}" ]; then
  kept=()
  for c in "${configs[@]}"; do
    for want in $LOADTEST_ONLY; do [ "${c%%|*}" = "$want" ] && kept+=("$c"); done
  done
  configs=("${kept[@]}")
  flood_n=0
fi
echo "# $rounds rounds x ${secs}s per configuration, order rotated each round; wrk -t1 -c64"
for r in $(seq "$rounds"); do
  n=${#configs[@]}
  for i in $(seq 0 $((n - 1))); do
    c=${configs[$(( (i + r) % n ))]}
    IFS='|' read -r name mode script path <<< "$c"
    [ "$script" = "$tmp/post.lua" ] && sign_post
    start "$mode"
    "${gen_pin[@]}" wrk -t1 -c64 -d1s -s "$script" "http://127.0.0.1:$port$path" > /dev/null  # warm-up
    t0=$(cpu_ticks)
    "${gen_pin[@]}" wrk -t1 -c64 -d"${secs}s" --latency -s "$script" "http://127.0.0.1:$port$path" > "$tmp/out"
    t1=$(cpu_ticks)
    stop
    rps=$(awk '/^Requests\/sec/ {print $2}' "$tmp/out")
    p50=$(awk '$1=="50%" {print $2}' "$tmp/out"); p99=$(awk '$1=="99%" {print $2}' "$tmp/out")
    non2xx=$(awk '/Non-2xx/ {print $5}' "$tmp/out"); non2xx=${non2xx:-0}
    nreq=$(awk '/requests in/ {print $1}' "$tmp/out")
    # The server's CPU time (user + system, all threads) per request, in microseconds.
    cpu=$(awk -v t="$((t1 - t0))" -v hz="$hz" -v n="$nreq" 'BEGIN {printf "%.2f", t * 1e6 / hz / n}')
    echo "$r $name $rps $p50 $p99 $non2xx $cpu" >> "$tmp/results"
    echo "round $r: $name $rps req/s p50 $p50 p99 $p99 non-2xx $non2xx server CPU ${cpu} us/req"
  done
done
python3 - "$tmp/results" <<'PY'
import statistics, sys
def ms(s):
    return float(s[:-2]) if s.endswith("ms") else float(s[:-2]) / 1000 if s.endswith("us") else float(s[:-1]) * 1000
rows = {}
by_round = {}
for line in open(sys.argv[1]):
    rnd, name, rps, p50, p99, bad, cpu = line.split()
    rows.setdefault(name, []).append((float(rps), ms(p50), ms(p99), int(bad), float(cpu)))
    by_round.setdefault(rnd, {})[name] = float(rps)
def paired(a, b):
    """The median over rounds of a's req/s over b's in the same round."""
    r = [v[a] / v[b] for v in by_round.values() if a in v and b in v]
    return statistics.median(r) if r else None
med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v), statistics.median(r[2] for r in v), sum(r[3] for r in v), statistics.median(r[4] for r in v)) for k, v in rows.items()}
print()
print("| configuration | req/s (median) | p50 ms | p99 ms | ratio | paired ratio | server CPU us/req (median) | CPU ratio | non-2xx |")
print("|---|---|---|---|---|---|---|---|---|")
for k in ["bare", "ratelimit", "ratelimit-no-headers", "ratelimit-stacked", "ratelimit-stacked-inner-body", "ratelimit-peer", "ratelimit-peer-no-headers", "ratelimit-peer-inner-body", "ratelimit-peer-no-headers-inner-body", "governor", "governor-headers", "shield", "shield-pow", "shield-inner-body", "shield-pow-inner-body", "bare-post", "shield-sig", "shield-sig-inner-body", "ratelimit-peer-outer", "governor-outer", "shield-outer", "shield-pow-outer", "shield-sig-outer"]:
    if k not in med: continue
    b = med["bare-post" if k in ("bare-post", "shield-sig", "shield-sig-inner-body", "shield-sig-outer") else "bare"]
    rps, p50, p99, bad, cpu = med[k]
    # CPU ratio: the bare route's CPU per request over this one's (the throughput a
    # CPU-bound server keeps). Where the machine itself slows down (a busy neighbour),
    # the CPU time per request grows with it: it is as noisy as req/s, not steadier.
    base = "bare-post" if k in ("bare-post", "shield-sig", "shield-sig-inner-body", "shield-sig-outer") else "bare"
    pr = paired(k, base)
    pr = f"{pr:.2f}" if pr is not None else "-"
    print(f"| {k} | {rps:,.0f} | {p50:.3f} | {p99:.3f} | {rps / b[0]:.2f} | {pr} | {cpu:.2f} | {b[4] / cpu:.2f} | {bad} |")
print()
print("Paired ratios (median over rounds of A's req/s over B's in the same round):")
for a, b in [("ratelimit-peer", "governor-headers"), ("ratelimit-peer-inner-body", "governor-headers"),
             ("ratelimit-peer-no-headers", "governor"), ("ratelimit-peer-no-headers-inner-body", "governor"),
             ("ratelimit-peer-outer", "governor-outer"), ("shield-pow-inner-body", "shield-pow")]:
    pr = paired(a, b)
    if pr is not None:
        print(f"  {a} / {b}: {pr:.3f}")
bad = [k for k, v in med.items() if v[3]]
if bad:
    print(f"\nWARNING: non-2xx answers in {', '.join(bad)}: those rows measure refusals, not the route")
PY

[ "$flood_n" -gt 0 ] || exit 0
echo
echo "# memory: $flood_n requests from distinct client IPs through the full stack (flood mode: per-client 100/hour, 100k-key caps)"
"${srv_pin[@]}" "$bin" --mode flood --max-keys 100000 --listen "127.0.0.1:$port" > "$tmp/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
rss() { awk -v k="$1" '$1==k":" {print $2}' "/proc/$pid/status"; }
echo "before: VmRSS $(rss VmRSS) kB, VmHWM $(rss VmHWM) kB"
start_t=$(date +%s)
"${gen_pin[@]}" "$bin" --flood "http://127.0.0.1:$port/" --count "$flood_n" --concurrency 64 > "$tmp/flood.out" &
fpid=$!
while kill -0 $fpid 2>/dev/null; do
  sleep 5
  echo "  t=$(( $(date +%s) - start_t ))s VmRSS $(rss VmRSS) kB VmHWM $(rss VmHWM) kB"
done
wait $fpid || true
cat "$tmp/flood.out"
echo "after:  VmRSS $(rss VmRSS) kB, VmHWM (peak) $(rss VmHWM) kB"
kill $pid 2>/dev/null || true
