#!/usr/bin/env bash
# Runs every test of the project:
#   1. the Rust suites of every crate (`cargo test --workspace`), PostgreSQL tests included;
#   2. the browser editor: its unit tests, a check that the committed demo/dist is the build of
#      demo/src, and the end-to-end test in headless Chromium (tests/e2e);
#   3. a short smoke run of every load-generator scenario (scripts/loadgen-smoke.sh).
#
# PostgreSQL: the tests create and drop a database per test on the server named by
# PAIRPAD_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432). On a machine without
# PostgreSQL, run `PAIRPAD_TEST_POSTGRES= bash scripts/test.sh` to skip those tests.
# Set PAIRPAD_SKIP_E2E=1 to skip the browser tests. They need Node.js 20; what else they need is
# installed when missing: Debian's chromium (apt-get, as root or through passwordless sudo) and
# the npm packages of demo/ and tests/e2e/ (npm ci).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export PAIRPAD_TEST_POSTGRES="${PAIRPAD_TEST_POSTGRES-postgres://postgres@127.0.0.1:5432}"
# Where cargo builds, CARGO_TARGET_DIR and .cargo/config.toml included.
target_dir=$(cargo metadata --format-version 1 --no-deps | grep -o '"target_directory":"[^"]*"' | cut -d'"' -f4)
mkdir -p "$target_dir"
log=$target_dir/cargo-test.log

# npm_install DIR: npm ci in DIR unless its node_modules matches its package-lock.json.
npm_install() {
  if [[ $1/package-lock.json -nt $1/node_modules/.package-lock.json ]]; then
    echo "==> npm ci ($1)"
    (cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# Installs Debian's chromium when no browser is at $CHROMIUM (default /usr/bin/chromium).
install_chromium() {
  [[ -x ${CHROMIUM:-/usr/bin/chromium} ]] && return
  local sudo=()
  [[ $(id -u) == 0 ]] || sudo=(sudo -n)
  command -v apt-get >/dev/null || { echo "FATAL: no chromium, and no apt-get to install it (set CHROMIUM)" >&2; exit 1; }
  echo "==> installing chromium (apt-get)"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null ||
    { echo "FATAL: cannot install chromium (run as root, or apt-get install chromium, or set CHROMIUM)" >&2; exit 1; }
}

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
  command -v node >/dev/null || { echo "FATAL: the browser tests need Node.js 20 (or set PAIRPAD_SKIP_E2E=1)" >&2; exit 1; }
  npm_install demo
  npm_install tests/e2e
  install_chromium
  echo "==> browser editor unit tests (demo/)"
  (cd demo && npm test --silent)
  echo "==> demo/dist matches demo/src (the server embeds demo/dist)"
  # Builds into a temporary directory and compares byte for byte: the working tree is untouched.
  (cd demo && npm run --silent check-dist) ||
    { echo "FATAL: demo/dist is stale: run \`cd demo && npm run build\` and commit demo/dist" >&2; exit 1; }
  echo "==> browser end-to-end test"
  # `cargo test --workspace` above built the server binary (integration tests need it); building
  # it alone would compile tokio, actix and more again with other features.
  [[ -x $target_dir/debug/pairpad-server ]] || cargo build -p pairpad-server
  PAIRPAD_BIN=$target_dir/debug/pairpad-server bash tests/e2e/run.sh
fi

echo "==> load generator smoke run"
bash scripts/loadgen-smoke.sh
