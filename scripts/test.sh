#!/usr/bin/env bash
# Runs every test of the project:
#   1. the Rust suites of every crate (`cargo test --workspace`), PostgreSQL tests included;
#   2. the end-to-end test of the browser editor in headless Chromium (tests/e2e);
#   3. a short smoke run of every load-generator scenario (scripts/loadgen-smoke.sh).
#
# PostgreSQL: the tests create and drop a database per test on the server named by
# PAIRPAD_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432). On a machine without
# PostgreSQL, run `PAIRPAD_TEST_POSTGRES= bash scripts/test.sh` to skip those tests.
# Set PAIRPAD_SKIP_E2E=1 to skip the browser tests (they need Node.js and Debian's chromium).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export PAIRPAD_TEST_POSTGRES="${PAIRPAD_TEST_POSTGRES-postgres://postgres@127.0.0.1:5432}"
mkdir -p target
log=target/cargo-test.log

echo "==> cargo test --workspace"
cargo test --workspace 2>&1 | tee "$log"

if [[ -n $PAIRPAD_TEST_POSTGRES ]]; then
  # With the variable set a PostgreSQL test fails rather than skips when the server is missing,
  # so every "ok" below really ran against PostgreSQL.
  count=$(grep -cE '^test .*postgres.* \.\.\. ok$' "$log" || true)
  echo "==> PostgreSQL tests run and passed: $count"
  [[ $count -gt 0 ]] || { echo "FATAL: no PostgreSQL test ran" >&2; exit 1; }
else
  echo "==> PostgreSQL tests SKIPPED (PAIRPAD_TEST_POSTGRES is empty)"
fi

if [[ ${PAIRPAD_SKIP_E2E:-} == 1 ]]; then
  echo "==> browser end-to-end test SKIPPED (PAIRPAD_SKIP_E2E=1)"
else
  echo "==> browser editor unit tests (demo/)"
  (cd demo && { [[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error; } && npm test --silent)
  echo "==> browser end-to-end test"
  cargo build -p pairpad-server
  PAIRPAD_BIN=target/debug/pairpad-server bash tests/e2e/run.sh
fi

echo "==> load generator smoke run"
bash scripts/loadgen-smoke.sh
