#!/usr/bin/env bash
# Crowded rooms (issue 17): the `authors` scenario (N authors in one room, each typing 3 keystrokes
# a second) for N = 100, 200, 400, 600 and 800, on SQLite and PostgreSQL with durable acks, then
# fan-out to 100, 400 and 1,000 readers; a fresh release server and database per run, limits
# raised (operations and cursors per second, users per room, connections, open files) and sized
# for rooms of 2,400 operations a second: a client may fall 16,384 messages behind (the default
# 1,024 is 0.4 s of such a room) and edits as old as 16,384 revisions are transformed from memory. Each run's
# JSON result goes to docs/bench/results/, then `pairpad-loadgen chart` draws the SVG charts into
# docs/bench/ and writes the table (docs/bench/authors-table.md). BENCHMARKS.md embeds them.
#
# Usage: scripts/bench-authors.sh [BIN_DIR]
#   BIN_DIR holds pairpad-server and pairpad-loadgen (release builds); without it this checkout's
#   are built (cargo build --release).
# Environment (defaults in brackets): SIZES [100 200 400 600 800], STORES [sqlite postgres],
#   RATE [3], WARMUP [2], DURATION [10], FANOUT_READERS [100 400 1000] (empty: no fan-out runs),
#   OUT [docs/bench], PG [postgres://postgres@127.0.0.1:5432] (PostgreSQL with trust auth: each run
#   drops and creates the database bench_authors).
# Takes about 10 minutes. The machine's load average before each run is printed, kept in
# $OUT/results/conditions.txt and in each result (load_average_start); charts only what is in
# $OUT/results, so rerunning one size overwrites its file and the charts follow.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

sizes=${SIZES:-100 200 400 600 800}
stores=${STORES:-sqlite postgres}
rate=${RATE:-3} warmup=${WARMUP:-2} duration=${DURATION:-10}
fanout_readers=${FANOUT_READERS-100 400 1000}
out=${OUT:-docs/bench}
pg=${PG:-postgres://postgres@127.0.0.1:5432}
port=9178

if [[ $# -ge 1 ]]; then
  bin=$(realpath "$1")
else
  cargo build -q --release -p pairpad-server -p pairpad-loadgen
  target_dir=$(cargo metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
  bin="$target_dir/release"
fi
mkdir -p "$out/results"
results=$(realpath "$out/results")

# 800 authors are 800 connections on each side (and a few more descriptors per process).
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

{
  echo "bench-authors.sh, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates Cargo.toml Cargo.lock || echo ' (crates with uncommitted changes)'), binaries from $bin"
  echo "$(nproc) cores, $(uname -sr), rate $rate keystrokes/s per author, warm-up $warmup s, measured $duration s"
} >"$results/conditions.txt"
cat "$results/conditions.txt"

server_pid=
tmp=
stop_server() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
  [[ -n $tmp ]] && rm -rf "$tmp"
  tmp=
}
trap stop_server EXIT

# start_server STORE MAX_USERS: a fresh database and a server on it, durable acks, limits raised.
start_server() {
  local store=$1 max_users=$2 url
  tmp=$(mktemp -d)
  if [[ $store == sqlite ]]; then
    url="sqlite://$tmp/bench.db"
  else
    psql -q "$pg/postgres" -c 'drop database if exists bench_authors' -c 'create database bench_authors'
    url="$pg/bench_authors"
  fi
  # From the temporary folder: the server uses its compiled defaults plus these, not config/.
  (cd "$tmp" && exec env PORT=$port DATABASE_URL="$url" RUST_LOG=warn \
    PAIRPAD__STORE__DURABILITY=disk \
    PAIRPAD__WEBSOCKET__OPS_PER_SECOND=1000000 PAIRPAD__WEBSOCKET__CURSORS_PER_SECOND=1000000 \
    PAIRPAD__WEBSOCKET__MAX_CONNECTIONS=20000 PAIRPAD__ROOMS__MAX_USERS_PER_ROOM="$max_users" \
    PAIRPAD__WEBSOCKET__OUTBOUND_QUEUE=16384 PAIRPAD__ROOMS__HISTORY_WINDOW=16384 \
    PAIRPAD__SERVER__ROOMS_PER_MINUTE=0 \
    "$bin/pairpad-server" >"$tmp/server.log" 2>&1) &
  server_pid=$!
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/health" >/dev/null && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$tmp/server.log" >&2
  echo "FATAL: the server did not come up ($store)" >&2
  exit 1
}

failed=0
# measure NAME STORE MAX_USERS -- LOADGEN ARGS...: one run on a fresh server, its JSON kept.
measure() {
  local name=$1 store=$2 max_users=$3
  shift 4
  echo
  echo "== $name ($(uptime | sed 's/.*load/load/'))" | tee -a "$results/conditions.txt"
  start_server "$store" "$max_users"
  local status=0
  "$bin/pairpad-loadgen" --url "http://127.0.0.1:$port" --server-pid "$server_pid" \
    --json-out "$results/$name.json" "$@" | grep -v '^RESULT ' || status=$?
  if [[ $status -ne 0 ]]; then
    echo "FAILED: $name (exit $status)" | tee -a "$results/conditions.txt"
    failed=$((failed + 1))
  fi
  stop_server
}

for store in $stores; do
  for n in $sizes; do
    measure "authors-$store-$n" "$store" 1000 -- authors --authors "$n" --rate "$rate" --warmup "$warmup" --duration "$duration"
  done
done
for store in $stores; do
  for readers in $fanout_readers; do
    # One writer at 100 operations a second, as in BENCHMARKS.md's fan-out rows; 1,000 readers and
    # the writer are more than 1,000 users.
    measure "fanout-$store-$readers" "$store" 5000 -- fanout --readers "$readers" --rate 100 --warmup 1 --duration "$duration" --connect-concurrency 128
  done
done

echo
"$bin/pairpad-loadgen" chart --input "$results" --out "$out" | tee "$results/chart.log"
sed -n '/^| store/,$p' "$results/chart.log" >"$out/authors-table.md"
rm -f "$results/chart.log"
[[ $failed -eq 0 ]] || { echo "bench-authors: $failed run(s) FAILED"; exit 1; }
