#!/usr/bin/env bash
# Scale-out benchmark (issue 13): one pairpad-server process against two serving the same rooms on
# one PostgreSQL database. Builds release, then for each case creates a fresh database, starts the
# server process(es) on free ports (one after the other, so their migrations do not race) with
# durable acks and the abuse limits raised, runs the load generator and stops them:
#   fanout-1        1 writer + READERS readers, 1 process
#   fanout-2        the same, readers split over 2 processes (writer on the first)
#   typing-1        ROOMS rooms x 2 clients, closed loop, 1 process
#   typing-split    the same on 2 processes, each room's two clients on different processes
#   typing-together the same on 2 processes, both clients of a room on one process, rooms
#                   round-robin (the nginx `hash $room_id` case: two processes on different rooms)
# then prints a table with each figure next to the single process's, and the issue's targets.
#
# Usage: scripts/bench-scale.sh [DURATION_SECONDS]        (10 s measured per case by default)
#   env: READERS (100), RATE (fan-out ops/s, 100), ROOMS (50), CASES (a subset of the names
#   above, space-separated), PG_URL (postgres://postgres@127.0.0.1:5432, trust authentication).
# Exit status: 0 when every case passed its checks (0 lost, CONVERGED), 1 when one did not, 2 when
# the setup failed. Latest figures: BENCHMARKS.md, "Scale-out".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

duration=${1:-10}
readers=${READERS:-100}
rate=${RATE:-100}
rooms=${ROOMS:-50}
cases=${CASES:-fanout-1 fanout-2 typing-1 typing-split typing-together}
pg=${PG_URL:-postgres://postgres@127.0.0.1:5432}
db=bench_scale_$$

echo "==> building pairpad-server and pairpad-loadgen (release)"
cargo build -q --release -p pairpad-server -p pairpad-loadgen
# Where cargo builds, CARGO_TARGET_DIR (even a relative one) and .cargo/config.toml included.
target_dir=$(cargo metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
bin="$target_dir/release"

tmp=$(mktemp -d)
server_pids=()
server_urls=()

stop_servers() {
  local pid
  for pid in "${server_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  server_pids=()
  server_urls=()
}
drop_database() {
  psql -q "$pg/postgres" -c "drop database if exists $db" >/dev/null 2>&1 || true
}
cleanup() {
  stop_servers
  drop_database
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

fresh_database() {
  PGOPTIONS='--client-min-messages=warning' psql -q "$pg/postgres" -c "drop database if exists $db" \
    -c "create database $db" >/dev/null
}

# start_server N: starts the N-th process on a free port; appends to server_pids and server_urls.
start_server() {
  local n=$1 log="$tmp/server$1.log" url= pid
  # From a temporary directory, so that no config/local.toml of this checkout is read; the
  # settings are config/default.toml's, compiled into the binary, and these variables.
  (cd "$tmp" && exec env PORT=0 DATABASE_URL="$pg/$db" RUST_LOG=warn,pairpad_server=info \
    PAIRPAD__WEBSOCKET__OPS_PER_SECOND=1000000 PAIRPAD__WEBSOCKET__MAX_CONNECTIONS=20000 \
    PAIRPAD__ROOMS__MAX_USERS_PER_ROOM=5000 PAIRPAD__SERVER__ROOMS_PER_MINUTE=0 \
    "$bin/pairpad-server" >"$log" 2>&1) &
  pid=$!
  server_pids+=("$pid")
  for _ in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$log" >&2
      echo "FATAL: server $n exited during start-up" >&2
      exit 2
    fi
    url=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$log" | head -n1 | sed 's/listening on //' || true)
    [[ -n $url ]] && curl -fsS "$url/health" >/dev/null 2>&1 && break
    url=
    sleep 0.1
  done
  [[ -n $url ]] || { cat "$log" >&2; echo "FATAL: server $n did not come up" >&2; exit 2; }
  server_urls+=("$url")
}

failed=0
# run CASE PROCESSES SCENARIO ARGS...: a fresh database and PROCESSES servers, then the scenario.
run() {
  local name=$1 processes=$2 status=0 i
  shift 2
  [[ " $cases " == *" $name "* ]] || return 0
  fresh_database
  for i in $(seq 1 "$processes"); do start_server "$i"; done
  local urls pids
  urls=$(IFS=,; echo "${server_urls[*]}")
  pids=$(IFS=,; echo "${server_pids[*]}")
  echo "==> $name: $processes process(es) ($urls): pairpad-loadgen $*"
  "$bin/pairpad-loadgen" --url "$urls" --server-pid "$pids" "$@" >"$tmp/$name.out" 2>&1 || status=$?
  grep -E '^  ' "$tmp/$name.out" | grep -vE '^  server http' || tail -n 5 "$tmp/$name.out"
  for i in "${!server_pids[@]}"; do
    if ! kill -0 "${server_pids[$i]}" 2>/dev/null; then
      echo "    server $((i + 1)) died; its log:"
      tail -n 20 "$tmp/server$((i + 1)).log"
      status=1
    fi
  done
  [[ $status -eq 0 ]] || failed=1
  echo "$name $processes $status" >>"$tmp/cases"
  stop_servers
  drop_database
}

echo "==> $duration s measured per case; PostgreSQL database $db (fresh for each case)"
fanout=(fanout --readers "$readers" --rate "$rate" --duration "$duration")
typing=(typing --rooms "$rooms" --clients 2 --duration "$duration")
run fanout-1 1 "${fanout[@]}"
run fanout-2 2 "${fanout[@]}"
run typing-1 1 "${typing[@]}"
run typing-split 2 "${typing[@]}" --placement split
run typing-together 2 "${typing[@]}" --placement together

echo
echo "== summary ($duration s per case, $(nproc) cores, $(uptime | sed 's/.*load/load/'))"
python3 - "$tmp" <<'EOF'
import json, os, sys

tmp = sys.argv[1]
rows = []
cases = os.path.join(tmp, "cases")
for line in open(cases).read().splitlines() if os.path.exists(cases) else []:
    name, processes, status = line.split()
    out = open(os.path.join(tmp, name + ".out")).read().splitlines()
    result = next((json.loads(l[7:]) for l in out if l.startswith("RESULT ")), None)
    rows.append((name, int(processes), int(status), result, out))

def fmt(x, digits=0):
    return "n.a." if x is None else f"{x:,.{digits}f}"

results = {name: result for name, _, _, result, _ in rows}
def baseline(name):
    return results.get("fanout-1" if name.startswith("fanout") else "typing-1")

targets = {"fanout-2": "p99 <= 2x", "typing-split": ">= 0.5x", "typing-together": ">= 0.9x"}
header = ["case", "proc", "figure", "ack/delivery p50", "p99", "conflicts/s", "vs 1 process", "target",
          "server CPU", "loadgen CPU", "verdict"]
table = []
for name, processes, status, result, out in rows:
    if result is None:
        last = next((l for l in reversed(out) if l.strip()), "no output")
        table.append([name, str(processes), "error: " + last[:60]] + [""] * (len(header) - 4) + ["ERROR"])
        continue
    measured = result.get("measured", {})
    server_cpu = (measured.get("server") or {}).get("cpu_pct")
    loadgen_cpu = (measured.get("loadgen") or {}).get("cpu_pct")
    base = baseline(name)
    if result["scenario"] == "fanout":
        latency = result.get("delivery_latency", {})
        figure = f"{result.get('deliveries', 0):,} delivered, {result.get('lost', 0):,} lost"
        conflicts = ""
        base_p99 = (base or {}).get("delivery_latency", {}).get("p99_ms")
        ratio = f"{latency['p99_ms'] / base_p99:.2f}x p99" if base_p99 and "p99_ms" in latency and base is not result else ""
    else:
        latency = result.get("ack_latency", {})
        figure = f"{fmt(result.get('acked_ops_per_s'))} acked ops/s"
        conflicts = fmt(result.get("conflicts_per_s"), 1)
        base_ops = (base or {}).get("acked_ops_per_s")
        ratio = f"{result['acked_ops_per_s'] / base_ops:.2f}x" if base_ops and base is not result else ""
    verdict = "passed" if result.get("passed") and status == 0 else "FAILED"
    if result.get("scenario") == "typing" and result.get("passed"):
        verdict += ", CONVERGED"
    table.append([name, str(processes), figure, fmt(latency.get("p50_ms"), 2) + " ms",
                  fmt(latency.get("p99_ms"), 2) + " ms", conflicts, ratio, targets.get(name, ""),
                  fmt(server_cpu) + " %", fmt(loadgen_cpu) + " %", verdict])

widths = [max(len(r[i]) for r in [header] + table) for i in range(len(header))]
line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
print(line(header))
print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
for r in table:
    print(line(r))
for name, _, _, result, _ in rows:
    for failure in (result or {}).get("failures", []):
        print(f"{name}: {failure[:200]}")
EOF
exit "$failed"
