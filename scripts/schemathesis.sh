#!/usr/bin/env bash
# Runs schemathesis (PyPI) against the demo's own /openapi.json: any 5xx, any response
# that breaks the documented schema, status code or content type fails the run.
# Usage: scripts/schemathesis.sh [path-to-demo-binary]
set -euo pipefail
cd "$(dirname "$0")/.."
demo="${1:-target/debug/examples/demo}"
[ -x "$demo" ] || cargo build --example demo
python3 -c 'import schemathesis' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check schemathesis
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cfg=$(mktemp --suffix=.toml)
db=$(mktemp --suffix=.db)
admin_token="schemathesis-admin-token-0123456789abcdef"
token_sha=$(printf %s "$admin_token" | sha256sum | cut -d' ' -f1)
cat > "$cfg" <<TOML
[database]
url = "sqlite://$db?mode=rwc"
[admin]
token_sha256 = "$token_sha"
[rate_limit]
requests_per_minute = 1000000
[[api_keys]]
key = "tsk_schemathesis_key"
requests_per_hour = 1000000
permissions = ["verify"]
TOML
log=$(mktemp)
"$demo" --listen "127.0.0.1:$port" --config "$cfg" > "$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$cfg" "$db" "$db-wal" "$db-shm"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$log"; echo "demo did not start"; exit 1; }
checks=not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance
# Everything but the admin API, with the demo's API key (its only links are the admin
# API's, so no stateful phase here).
schemathesis run "http://127.0.0.1:$port/openapi.json" \
  --checks "$checks" \
  --exclude-tag "ECURTIY admin" \
  --phases examples,coverage,fuzzing \
  -H "X-API-Key: tsk_schemathesis_key" \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-50}" \
  --seed 1
# The admin API (sites in a real SQLite database), with the admin bearer token.
schemathesis run "http://127.0.0.1:$port/openapi.json" \
  --checks "$checks" \
  --include-tag "ECURTIY admin" \
  -H "Authorization: Bearer $admin_token" \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-50}" \
  --seed 1
