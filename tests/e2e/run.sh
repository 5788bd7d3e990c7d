#!/usr/bin/env bash
# End-to-end test of the page in a real browser against a real pairpad-server.
#
#   cargo build -p pairpad-server && tests/e2e/run.sh
#
# Builds nothing in Rust: the server binary comes from $PAIRPAD_BIN (default debug/pairpad-server
# in cargo's target directory, CARGO_TARGET_DIR included). Needs Node 20 and Debian's chromium
# (/usr/bin/chromium, or $CHROMIUM); installs playwright-core into tests/e2e/node_modules when missing. The server runs on
# a free port with a temporary SQLite database; the test kills and restarts it (same port, same
# database). Screenshots and the server log land in tests/e2e/artifacts/.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
if [[ -z ${PAIRPAD_BIN:-} ]]; then
  target_dir=$(cargo metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
  PAIRPAD_BIN=$target_dir/debug/pairpad-server
fi
bin=$PAIRPAD_BIN
case $bin in /*) ;; *) bin="$root/$bin" ;; esac
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
artifacts="$root/tests/e2e/artifacts"

[[ -x $bin ]] || { echo "e2e: no server binary at $bin (cargo build -p pairpad-server, or set PAIRPAD_BIN)" >&2; exit 2; }
[[ -x $CHROMIUM ]] || { echo "e2e: no chromium at $CHROMIUM (apt-get install -y chromium, or set CHROMIUM)" >&2; exit 2; }
if [[ ! -f tests/e2e/node_modules/playwright-core/package.json ]]; then
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi

mkdir -p "$artifacts"
tmp=$(mktemp -d)
pid_file="$tmp/server.pid"
log="$artifacts/server.log"
: >"$log"

cleanup() {
  local status=$?
  if [[ -f $pid_file ]]; then
    local pid
    pid=$(cat "$pid_file")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  if [[ $status -ne 0 ]]; then
    echo "e2e: FAILED (exit $status); last lines of the server log ($log):" >&2
    tail -n 40 "$log" >&2 || true
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT

port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
export PAIRPAD_BIN="$bin" PAIRPAD_PID_FILE="$pid_file" PAIRPAD_LOG="$log"
export PAIRPAD__SERVER__PORT=$port PAIRPAD__SERVER__HOST=127.0.0.1 DATABASE_URL="sqlite://$tmp/e2e.db"
export PAIRPAD_URL="http://127.0.0.1:$port"
export RUST_LOG=${RUST_LOG:-info}

"$bin" >>"$log" 2>&1 &
echo $! >"$pid_file"
disown

healthy() { node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$PAIRPAD_URL/health"; }
for _ in $(seq 150); do
  if healthy; then break; fi
  kill -0 "$(cat "$pid_file")" 2>/dev/null || { echo "e2e: the server exited at start" >&2; exit 1; }
  sleep 0.2
done
healthy || { echo "e2e: $PAIRPAD_URL/health did not answer within 30 s" >&2; exit 1; }
echo "e2e: server up at $PAIRPAD_URL ($(basename "$bin"), database $DATABASE_URL)"

node tests/e2e/collab.test.mjs
