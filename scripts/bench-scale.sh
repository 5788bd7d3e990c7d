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
# With ROUNDS > 1 the cases run that many times, interleaved (this machine's throughput moves by a
# third within an hour), and the table shows each case's median, each ratio taken within its round,
# and the ratios' range.
#
# Usage: scripts/bench-scale.sh [DURATION_SECONDS]        (10 s measured per case by default)
#   env: READERS (100), RATE (fan-out ops/s, 100), ROOMS (50), CASES (a subset of the names
#   above, space-separated), ROUNDS (1), PG_URL (postgres://postgres@127.0.0.1:5432, trust
#   authentication).
# Exit status: 0 when every case passed its checks (0 lost, CONVERGED), 1 when one did not, 2 when
# the setup failed. Latest figures: BENCHMARKS.md, "Scale-out".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

duration=${1:-10}
readers=${READERS:-100}
rate=${RATE:-100}
rooms=${ROOMS:-50}
cases=${CASES:-fanout-1 fanout-2 typing-1 typing-split typing-together}
rounds=${ROUNDS:-1}
round=1
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
  local out="$tmp/$name.$round.out"
  "$bin/pairpad-loadgen" --url "$urls" --server-pid "$pids" "$@" >"$out" 2>&1 || status=$?
  grep -E '^  ' "$out" | grep -vE '^  server http' || tail -n 5 "$out"
  for i in "${!server_pids[@]}"; do
    if ! kill -0 "${server_pids[$i]}" 2>/dev/null; then
      echo "    server $((i + 1)) died; its log:"
      tail -n 20 "$tmp/server$((i + 1)).log"
      status=1
    fi
  done
  [[ $status -eq 0 ]] || failed=1
  echo "$name $processes $status $round" >>"$tmp/cases"
  stop_servers
  drop_database
}

echo "==> $duration s measured per case; PostgreSQL database $db (fresh for each case)"
fanout=(fanout --readers "$readers" --rate "$rate" --duration "$duration")
typing=(typing --rooms "$rooms" --clients 2 --duration "$duration")
for round in $(seq 1 "$rounds"); do
  [[ $rounds -eq 1 ]] || echo "== round $round of $rounds"
  run fanout-1 1 "${fanout[@]}"
  run fanout-2 2 "${fanout[@]}"
  run typing-1 1 "${typing[@]}"
  run typing-split 2 "${typing[@]}" --placement split
  run typing-together 2 "${typing[@]}" --placement together
done

echo
echo "== summary ($duration s per case, $rounds round(s), $(nproc) cores, $(uptime | sed 's/.*load/load/'))"
python3 - "$tmp" <<'EOF'
import json, os, sys

tmp = sys.argv[1]
runs = []  # (name, processes, status, round, result, output lines)
cases = os.path.join(tmp, "cases")
for line in open(cases).read().splitlines() if os.path.exists(cases) else []:
    name, processes, status, round_ = line.split()
    out = open(os.path.join(tmp, f"{name}.{round_}.out")).read().splitlines()
    result = next((json.loads(l[7:]) for l in out if l.startswith("RESULT ")), None)
    runs.append((name, int(processes), int(status), round_, result, out))

def fmt(x, digits=0):
    return "n.a." if x is None else f"{x:,.{digits}f}"

def median(xs):
    xs = sorted(x for x in xs if x is not None)
    return None if not xs else xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2

by_round = {(name, round_): result for name, _, _, round_, result, _ in runs}
def figure_of(result):
    if result is None:
        return None
    if result["scenario"] == "fanout":
        return result.get("delivery_latency", {}).get("p99_ms")
    return result.get("acked_ops_per_s")

def ratio_of(name, round_, result):
    base = by_round.get(("fanout-1" if name.startswith("fanout") else "typing-1", round_))
    if base is None or base is result or figure_of(base) in (None, 0) or figure_of(result) is None:
        return None
    return figure_of(result) / figure_of(base)

targets = {"fanout-2": "p99 <= 2x", "typing-split": ">= 0.5x", "typing-together": ">= 0.9x"}
header = ["case", "proc", "figure", "ack/delivery p50", "p99", "conflicts/s", "vs 1 process", "target",
          "server CPU", "loadgen CPU", "verdict"]
table = []
names = list(dict.fromkeys(name for name, *_ in runs))
for name in names:
    mine = [r for r in runs if r[0] == name]
    processes = mine[0][1]
    results = [r[4] for r in mine]
    if any(result is None for result in results):
        out = next(r[5] for r in mine if r[4] is None)
        last = next((l for l in reversed(out) if l.strip()), "no output")
        table.append([name, str(processes), "error: " + last[:60]] + [""] * (len(header) - 4) + ["ERROR"])
        continue
    first = results[0]
    fanout = first["scenario"] == "fanout"
    latency_key = "delivery_latency" if fanout else "ack_latency"
    p50 = median(r.get(latency_key, {}).get("p50_ms") for r in results)
    p99 = median(r.get(latency_key, {}).get("p99_ms") for r in results)
    cpu = lambda who: median(((r.get("measured", {}).get(who) or {}).get("cpu_pct")) for r in results)
    if fanout:
        figure = f"{fmt(median(r.get('deliveries', 0) for r in results))} delivered, {sum(r.get('lost', 0) for r in results):,} lost"
        conflicts = ""
    else:
        figure = f"{fmt(median(r.get('acked_ops_per_s') for r in results))} acked ops/s"
        conflicts = fmt(median(r.get("conflicts_per_s") for r in results), 1)
    ratios = [x for x in (ratio_of(name, r[3], r[4]) for r in mine) if x is not None]
    ratio = ""
    if ratios:
        ratio = f"{median(ratios):.2f}x" + (" p99" if fanout else "")
        if len(ratios) > 1:
            ratio += f" ({min(ratios):.2f}-{max(ratios):.2f})"
    passed = all(r.get("passed") for r in results) and all(r[2] == 0 for r in mine)
    verdict = "passed" if passed else "FAILED"
    if not fanout and passed:
        verdict += ", CONVERGED"
    table.append([name, str(processes), figure, fmt(p50, 2) + " ms", fmt(p99, 2) + " ms", conflicts, ratio,
                  targets.get(name, ""), fmt(cpu("server")) + " %", fmt(cpu("loadgen")) + " %", verdict])

widths = [max(len(r[i]) for r in [header] + table) for i in range(len(header))]
line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
print(line(header))
print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
for r in table:
    print(line(r))
for name, _, _, _, result, _ in runs:
    for failure in (result or {}).get("failures", []):
        print(f"{name}: {failure[:200]}")
EOF
exit "$failed"
