#!/usr/bin/env bash
# The test command (README and .ci/run call exactly this): installs the real peers the tests
# use into ~/.cache/fusion-peers (first time only), starts PostgreSQL for the store tests
# (scripts/postgres.sh, stopped again on exit), then runs every test of the workspace.
# Extra arguments go to the test runner, e.g. `scripts/test.sh council_degradation`.
#
# `scripts/test.sh --fast [ARGS]` is the edit-compile-test loop: nextest's `fast` profile
# (.config/nextest.toml), every test that needs no peer and no PostgreSQL, with neither
# installed nor started.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fusion-target}"

if [[ "${1:-}" == "--fast" ]]; then
  shift
  if ! cargo nextest --version >/dev/null 2>&1; then
    echo "[test] --fast needs cargo-nextest (cargo install cargo-nextest --locked)" >&2
    exit 2
  fi
  exec cargo nextest run --workspace --locked --no-fail-fast --profile fast "$@"
fi

# install-peers prints NAME=PATH lines for the tests to find the peers.
while IFS='=' read -r name value; do
  export "$name=$value"
done < <(scripts/install-peers.sh)

# A PostgreSQL server for the store tests (the same tests run on SQLite and on PostgreSQL):
# postgres.sh prints FUSION_TEST_POSTGRES_URL=...; the server is stopped when this script exits.
trap 'scripts/postgres.sh stop || true' EXIT
while IFS='=' read -r name value; do
  export "$name=$value"
done < <(scripts/postgres.sh)
: "${FUSION_TEST_POSTGRES_URL:?scripts/postgres.sh did not start PostgreSQL (see its log above)}"

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  echo "[test] cargo-nextest not found; using cargo test" >&2
  cargo test --workspace --locked --no-fail-fast "$@"
fi
