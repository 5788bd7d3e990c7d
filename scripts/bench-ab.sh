#!/usr/bin/env bash
# A/B benchmark of two release builds, interleaved so that both see the same machine: typing
# (closed loop, 50 rooms x 2 clients, 10 s), the rustcode trace (one keystroke per ack) and
# fan-out (100 readers, 100 ops/s, 10 s), on SQLite and PostgreSQL with durable acks, a fresh
# server and database per run.
#
# Usage: scripts/bench-ab.sh A_DIR B_DIR [ROUNDS]
#   A_DIR, B_DIR: directories holding pairpad-server and pairpad-loadgen (release builds), e.g.
#   a worktree of the old commit's target/release and this checkout's target/release.
# Prints one line per run: build, store, scenario and the load generator's summary.
#   env: STORES (default "sqlite postgres").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

a=$(realpath "$1") b=$(realpath "$2") rounds=${3:-2}
pg=postgres://postgres@127.0.0.1:5432

# summary FIELD UNIT: the rate, the ack latency and the verdict from the load generator's RESULT line.
summary() {
  python3 -c '
import json, sys
result = json.loads(next(l for l in sys.stdin if l.startswith("RESULT "))[7:])
latency = result.get("delivery_latency") or result["ack_latency"]
kind = "delivery" if "delivery_latency" in result else "ack"
p50, p99 = latency["p50_ms"], latency["p99_ms"]
verdict = "passed" if result["passed"] else "FAILED " + str(result["failures"])
print(f"{result[sys.argv[1]]:.0f} {sys.argv[2]}, {kind} p50 {p50} ms, p99 {p99} ms, {verdict}")
' "$1" "$2"
}

run() { # run BIN_DIR LABEL STORE
  local dir=$1 label=$2 store=$3 url port=9177 tmp
  tmp=$(mktemp -d)
  if [[ $store == sqlite ]]; then
    url="sqlite://$tmp/bench.db"
  else
    psql -q "$pg/postgres" -c 'drop database if exists bench_ab' -c 'create database bench_ab'
    url="$pg/bench_ab"
  fi
  # Builds before the room-creation limit refuse its (unknown) setting.
  local extra=()
  grep -q rooms_per_minute "$dir/pairpad-server" && extra=(PAIRPAD__SERVER__ROOMS_PER_MINUTE=0)
  # (Run from the repository root, each binary would read this checkout's config/default.toml,
  # which an older build may not understand; elsewhere it uses the defaults compiled into it.)
  (cd "$tmp" && exec env PORT=$port DATABASE_URL="$url" RUST_LOG=warn PAIRPAD__WEBSOCKET__OPS_PER_SECOND=1000000 \
    PAIRPAD__ROOMS__MAX_USERS_PER_ROOM=5000 "${extra[@]}" \
    "$dir/pairpad-server" >"$tmp/server.log" 2>&1) &
  local pid=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
  local l=("$dir/pairpad-loadgen" --url "http://127.0.0.1:$port" --server-pid "$pid")
  echo "$label $store typing: $("${l[@]}" typing --rooms 50 --clients 2 --duration 10 2>&1 | summary acked_ops_per_s ops/s)"
  echo "$label $store trace:  $("${l[@]}" trace --mode ack --file tests/traces/rustcode.json.gz 2>&1 | summary keystrokes_per_s keys/s)"
  echo "$label $store fanout: $("${l[@]}" fanout --readers 100 --rate 100 --duration 10 2>&1 | summary deliveries deliveries)"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}

for round in $(seq "$rounds"); do
  echo "== round $round ($(uptime | sed 's/.*load/load/'))"
  for store in ${STORES:-sqlite postgres}; do
    run "$a" A "$store"
    run "$b" B "$store"
  done
done
