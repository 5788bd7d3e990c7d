#!/usr/bin/env bash
# Smoke test of the load generator: builds the server and pairpad-loadgen, starts the server on a
# free port with a throw-away SQLite database and raised limits, runs every scenario briefly at
# small sizes, and fails unless each one passes its correctness checks (CONVERGED, MATCH, 0 lost).
# Speed is not checked: this is not a benchmark (BENCHMARKS.md has those).
#
# Usage: scripts/loadgen-smoke.sh            (debug build)
#        LOADGEN_PROFILE=release scripts/loadgen-smoke.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

profile=${LOADGEN_PROFILE:-debug}
# Where cargo builds, CARGO_TARGET_DIR (even a relative one) and .cargo/config.toml included.
target_dir=$(cargo metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
build_flags=()
[[ $profile == release ]] && build_flags=(--release)

echo "==> building pairpad-server and pairpad-loadgen ($profile)"
cargo build -q "${build_flags[@]}" -p pairpad-server -p pairpad-loadgen
bin="$target_dir/$profile"

tmp=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# The idle scenario below needs a few hundred descriptors on each side.
ulimit -n 4096 2>/dev/null || true

echo "==> starting the server (SQLite at $tmp/smoke.db)"
# Limits raised (room creation unlimited) so the load generator measures the server, not its
# abuse protection; rooms unload after 1 s so the churn scenario can see them go.
PORT=0 DATABASE_URL="sqlite://$tmp/smoke.db" RUST_LOG=warn,pairpad_server=info \
  PAIRPAD__WEBSOCKET__OPS_PER_SECOND=1000000 \
  PAIRPAD__SERVER__ROOMS_PER_MINUTE=0 \
  PAIRPAD__WEBSOCKET__MAX_CONNECTIONS=20000 \
  PAIRPAD__ROOMS__MAX_USERS_PER_ROOM=5000 \
  PAIRPAD__ROOMS__IDLE_UNLOAD_SECS=1 \
  "$bin/pairpad-server" >"$tmp/server.log" 2>&1 &
server_pid=$!

url=
for _ in $(seq 1 300); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    cat "$tmp/server.log" >&2
    echo "FATAL: the server exited during startup" >&2
    exit 1
  fi
  url=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$tmp/server.log" | head -n1 | sed 's/listening on //' || true)
  [[ -n $url ]] && curl -fsS "$url/health" >/dev/null 2>&1 && break
  url=
  sleep 0.1
done
[[ -n $url ]] || { cat "$tmp/server.log" >&2; echo "FATAL: the server did not come up" >&2; exit 1; }
echo "    $url (pid $server_pid)"

failed=0
# run NAME WORD -- ARGS...: runs one scenario; it must exit 0, print WORD, and report passed:true.
run() {
  local name=$1 word=$2
  shift 3
  echo
  echo "==> $name: pairpad-loadgen $*"
  local status=0
  "$bin/pairpad-loadgen" --url "$url" --server-pid "$server_pid" "$@" >"$tmp/$name.out" 2>&1 || status=$?
  cat "$tmp/$name.out"
  if [[ $status -ne 0 ]] || ! grep -q "$word" "$tmp/$name.out" || ! grep -q '^RESULT .*"passed":true' "$tmp/$name.out"; then
    echo "FAILED: $name (exit $status)"
    failed=$((failed + 1))
  fi
}

run fanout "0 lost, CONVERGED" -- fanout --readers 20 --rate 50 --warmup 0.5 --duration 2
run fanout-2rooms "0 lost, CONVERGED" -- fanout --rooms 2 --readers 10 --rate 100 --warmup 0.2 --duration 1
run typing "CONVERGED" -- typing --rooms 5 --clients 2 --warmup 0.5 --duration 2
run typing-open "CONVERGED" -- typing --rooms 3 --clients 3 --rate 300 --warmup 0.2 --duration 2
# One crowded room (issue 17), its result also written as a file (--json-out) and charted.
run authors "0 lost, CONVERGED" -- authors --authors 20 --rate 3 --warmup 0.5 --duration 1 --json-out "$tmp/authors.json"
echo
echo "==> chart: pairpad-loadgen chart --input $tmp/authors.json --out $tmp/charts"
if "$bin/pairpad-loadgen" chart --input "$tmp/authors.json" --out "$tmp/charts" >"$tmp/chart.out" 2>&1 &&
  grep -q '<svg' "$tmp/charts/authors-latency-sqlite.svg" && grep -q '| SQLite | 20 |' "$tmp/chart.out"; then
  grep '^wrote' "$tmp/chart.out"
else
  cat "$tmp/chart.out"
  echo "FAILED: chart"
  failed=$((failed + 1))
fi
# Several --url's (here the same server twice): the spreading paths of fanout and typing.
run fanout-2urls "0 lost, CONVERGED" -- fanout --url "$url,$url" --readers 10 --rate 50 --warmup 0.2 --duration 1
run typing-2urls "CONVERGED" -- typing --url "$url,$url" --rooms 3 --placement split --warmup 0.2 --duration 1
run trace-ack "MATCH" -- trace --mode ack --limit 2000
run trace-compose "MATCH" -- trace --mode compose
run trace-svelte "MATCH" -- trace --mode compose --file tests/traces/sveltecomponent.json.gz
run history "MATCH" -- history --limit 600 --samples 50 --missed 100 --resumes 2 --buckets 20
run idle "per connection" -- idle --connections 300 --rooms 6 --hold 1
run join "all had init" -- join --clients 20 --doc-bytes 262144
run churn "rooms loaded" -- churn --rooms 60 --ops 3 --settle-timeout 15 --rest 0
# The machine's own costs (no server): its scratch file must be gone afterwards.
run floor "a durable 8 KiB write" -- floor --count 200 --rate 2000 --dir "$tmp"
if compgen -G "$tmp/.pairpad-floor-*" >/dev/null; then
  echo "FAILED: floor left its scratch file in $tmp"
  failed=$((failed + 1))
fi
# The completion evaluation (issue 18; no server): a few identifiers of two corpus files.
echo
echo "==> completions: pairpad-loadgen completions --samples 20"
if "$bin/pairpad-loadgen" completions --samples 20 tests/traces/rustcode.json.gz:rust \
  crates/pairpad-suggest/tests/corpus/inventory.py:python >"$tmp/completions.out" 2>&1 &&
  [[ $(grep -c '| 20 | ' "$tmp/completions.out") -eq 2 ]]; then
  cat "$tmp/completions.out"
else
  cat "$tmp/completions.out"
  echo "FAILED: completions"
  failed=$((failed + 1))
fi

if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "FAILED: the server died during the smoke test" >&2
  failed=$((failed + 1))
fi
echo
if [[ $failed -ne 0 ]]; then
  echo "--- server log (last 40 lines)"
  tail -n 40 "$tmp/server.log"
  echo "loadgen smoke: $failed scenario(s) FAILED"
  exit 1
fi
echo "loadgen smoke: every scenario passed"
