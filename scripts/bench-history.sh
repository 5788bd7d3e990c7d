#!/usr/bin/env bash
# History and resume benchmark (issue 14). For each store (SQLite, then PostgreSQL), on a fresh
# store and a freshly started release server with durable acks:
#   1. `pairpad-loadgen history`: replays the rustcode trace into a room one operation per
#      keystroke (about 40,000 revisions), reads the text at random revisions (checked against the
#      trace), the timeslider's points, and times resumes after 1,000 missed operations;
#   2. `pairpad-loadgen trace --mode ack` into another room, then, with the server stopped, the
#      store's bytes per stored operation, and the time to load that room after a restart (the
#      first `GET /api/rooms/{id}`, median of 5 restarts).
# With BASE_BIN set to another build's release directory (e.g. one from before history was kept),
# step 2 also runs on it, for the before/after of disk use and load time.
#
# Usage: scripts/bench-history.sh
#   env: PG_URL (postgres://postgres@127.0.0.1:5432), LIMIT (patches replayed; all by default),
#        BASE_BIN (a directory with an older pairpad-server), STORES ("sqlite postgres"),
#        SKIP_HISTORY=1 (step 2 only).
# Latest figures: BENCHMARKS.md, "History and resume".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

pg=${PG_URL:-postgres://postgres@127.0.0.1:5432}
stores=${STORES:-sqlite postgres}
limit=()
[[ -n ${LIMIT:-} ]] && limit=(--limit "$LIMIT")
db=bench_history_$$

echo "==> building pairpad-server and pairpad-loadgen (release)"
cargo build -q --release -p pairpad-server -p pairpad-loadgen
target_dir=$(cargo metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
bin="$target_dir/release"
trace_file=$PWD/tests/traces/rustcode.json.gz

tmp=$(mktemp -d)
server_pid=
server_url=
stop_server() {
  [[ -n $server_pid ]] || return 0
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}
cleanup() {
  stop_server
  psql -q "$pg/postgres" -c "drop database if exists $db" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# store_url STORE: the DATABASE_URL of the benchmark's store.
store_url() {
  if [[ $1 == sqlite ]]; then echo "sqlite://$tmp/data/pairpad.db"; else echo "$pg/$db"; fi
}

fresh_store() {
  rm -rf "$tmp/data"
  mkdir -p "$tmp/data"
  if [[ $1 == postgres ]]; then
    PGOPTIONS='--client-min-messages=warning' psql -q "$pg/postgres" -c "drop database if exists $db" \
      -c "create database $db" >/dev/null
  fi
}

# start_server BIN STORE: starts BIN/pairpad-server on a free port.
start_server() {
  local log="$tmp/server.log"
  (cd "$tmp" && exec env PORT=0 DATABASE_URL="$(store_url "$2")" RUST_LOG=warn,pairpad_server=info \
    PAIRPAD__WEBSOCKET__OPS_PER_SECOND=1000000 PAIRPAD__SERVER__ROOMS_PER_MINUTE=0 \
    "$1/pairpad-server" >"$log" 2>&1) &
  server_pid=$!
  server_url=
  for _ in $(seq 1 300); do
    kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; echo "FATAL: the server exited" >&2; exit 2; }
    server_url=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$log" | head -n1 | sed 's/listening on //' || true)
    [[ -n $server_url ]] && curl -fsS "$server_url/health" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$log" >&2
  echo "FATAL: the server did not come up" >&2
  exit 2
}

# disk STORE: "bytes operations" of the store (the server stopped).
disk() {
  if [[ $1 == sqlite ]]; then
    python3 - "$tmp/data/pairpad.db" <<'EOF'
import os, sqlite3, sys
path = sys.argv[1]
conn = sqlite3.connect(path)
conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
ops = conn.execute("SELECT count(*) FROM operations").fetchone()[0]
conn.close()
size = sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
print(size, ops)
EOF
  else
    psql -qtA "$pg/$db" -c "select coalesce(sum(pg_total_relation_size(c.oid)), 0) from pg_class c \
      join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind = 'r'" \
      -c "select count(*) from operations" | paste -sd' '
  fi
}

# load_time BIN STORE ROOM: the median time of the first GET of ROOM after a restart, in ms.
load_time() {
  local times=() i
  for i in 1 2 3 4 5; do
    start_server "$1" "$2"
    times+=("$(curl -fsS -o /dev/null -w '%{time_total}' "$server_url/api/rooms/$3")")
    stop_server
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n 3p | awk '{printf "%.1f", $1 * 1000}'
}

# footprint BIN STORE LABEL: trace into a room, then disk per operation and load time.
footprint() {
  fresh_store "$2"
  start_server "$1" "$2"
  "$bin/pairpad-loadgen" --url "$server_url" trace --mode ack --file "$trace_file" "${limit[@]}" \
    >"$tmp/trace.out" 2>&1 || { tail -n 5 "$tmp/trace.out"; exit 1; }
  local room keys
  room=$(grep '^RESULT ' "$tmp/trace.out" | sed 's/^RESULT //' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["room"])')
  keys=$(grep '^RESULT ' "$tmp/trace.out" | sed 's/^RESULT //' |
    python3 -c 'import json,sys; print(format(json.load(sys.stdin)["keystrokes_per_s"], ",.0f"))')
  stop_server
  read -r bytes ops < <(disk "$2")
  local load
  load=$(load_time "$1" "$2" "$room")
  printf '| %s | %s | %s | %s | %s ms | %s |\n' "$3" "$2" "$ops" \
    "$(python3 -c "print(f'{$bytes / max($ops, 1):,.0f} B ({$bytes / 1048576:.1f} MiB in all)')")" "$load" "$keys"
}

failed=0
for store in $stores; do
  [[ ${SKIP_HISTORY:-} == 1 ]] && break
  fresh_store "$store"
  start_server "$bin" "$store"
  echo "==> $store: pairpad-loadgen history"
  "$bin/pairpad-loadgen" --url "$server_url" --server-pid "$server_pid" history --file "$trace_file" "${limit[@]}" \
    >"$tmp/history-$store.out" 2>&1 || failed=1
  grep -E '^  ' "$tmp/history-$store.out" || tail -n 5 "$tmp/history-$store.out"
  stop_server
done

echo
echo "| build | store | operations stored | disk per stored operation | room load after restart | trace, one keystroke per ack (keys/s) |"
echo "|---|---|---|---|---|---|"
for store in $stores; do
  footprint "$bin" "$store" "this build"
  if [[ -n ${BASE_BIN:-} ]]; then footprint "$BASE_BIN" "$store" "base"; fi
done
exit "$failed"
