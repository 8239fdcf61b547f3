#!/usr/bin/env bash
# Redis store throughput beside plain SET throughput, in one session on one machine.
# Usage: scripts/bench-redis.sh   (needs redis-benchmark and Redis on 127.0.0.1:6379)
set -euo pipefail
cd "$(dirname "$0")/.."
last() { tr '\r' '\n' | grep -v '^ *$' | tail -n1; }
echo "== redis-benchmark -t set -c 64 -n 200000 (plain SET, 64 clients)"
redis-benchmark -h 127.0.0.1 -p 6379 -t set -c 64 -n 200000 -q | last
echo "== redis-benchmark EVALSHA of the rate script itself (64 clients): Redis's own ceiling"
sha=$(redis-cli -h 127.0.0.1 -p 6379 script load "$(cat src/redis/gcra.lua)")
redis-benchmark -h 127.0.0.1 -p 6379 -c 64 -n 100000 -q \
  evalsha "$sha" 1 'bench:{__rand_int__}' 1 1000 1000000 1 | last | sed "s/$sha/<sha>/"
echo "== tower-shield RedisStore, 64 concurrent callers in one process"
cargo bench -q --features redis --bench redis -- --warm-up-time 2 --measurement-time 8 2>&1 \
  | grep -E "^redis_64_callers|thrpt"
