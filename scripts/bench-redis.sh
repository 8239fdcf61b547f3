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

# --- The same on a 3-master Redis Cluster on loopback, started here and stopped at exit.
echo "== Redis Cluster: 3 masters on loopback"
dir=$(mktemp -d)
ports=(7301 7302 7303)
cleanup() { for p in "${ports[@]}"; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done; rm -rf "$dir"; }
trap cleanup EXIT
for p in "${ports[@]}"; do
  redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file "$dir/nodes-$p.conf" \
    --save '' --appendonly no --dir "$dir" --daemonize yes --logfile "$dir/$p.log"
done
for p in "${ports[@]}"; do for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done; done
redis-cli --cluster create 127.0.0.1:7301 127.0.0.1:7302 127.0.0.1:7303 --cluster-replicas 0 --cluster-yes >/dev/null
for _ in $(seq 100); do redis-cli -p 7301 cluster info | grep -q cluster_state:ok && break; sleep 0.1; done
echo "== redis-benchmark --cluster -t set -c 64 -n 200000 (plain SET over the cluster, 64 clients)"
redis-benchmark --cluster -h 127.0.0.1 -p 7301 -t set -c 64 -n 200000 -q | last
echo "== tower-shield RedisStore on the cluster, 64 concurrent callers in one process"
REDIS_CLUSTER_NODES=redis://127.0.0.1:7301,redis://127.0.0.1:7302,redis://127.0.0.1:7303 \
  cargo bench -q --features redis --bench redis -- --warm-up-time 2 --measurement-time 8 2>&1 \
  | grep -E "^redis_64_callers|thrpt"
