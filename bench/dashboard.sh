#!/usr/bin/env bash
# Dashboard page weight and time to first paint on loopback (not a test). Builds the release
# `fusion` and `mock-provider`, starts the mock and `fusion serve` in front of it on 127.0.0.1,
# runs one small council so the pages have something to show, then for each page opens a
# fresh headless Chromium (a new profile: nothing cached) through chromedriver and reads the
# page's own Performance entries: first contentful paint, DOMContentLoaded, load, and the bytes
# of the document and every resource it fetched. Prints a Markdown table (medians over RUNS
# visits) and writes it to bench/results/dashboard-latest.md.
# Needs chromium and chromium-driver (scripts/install-peers.sh installs them).
# Usage: bench/dashboard.sh. Environment: DASH_RUNS (visits per page, 7), DASH_NO_BUILD=1 (use
# the release binaries as built).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUNS="${DASH_RUNS:-7}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fusion-target}"
BIN="$CARGO_TARGET_DIR/release"
log() { echo "[dashboard-bench] $*" >&2; }
command -v chromedriver >/dev/null || { log "chromedriver missing: run scripts/install-peers.sh"; exit 2; }
# DASH_NO_BUILD=1 measures the release binaries already built.
[[ "${DASH_NO_BUILD:-}" == 1 ]] || cargo build --release --locked -p fusion-cli -p fusion-mock-provider >&2

work=$(mktemp -d)
export FUSION_DATA_DIR="$work/fusion-data"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_line() { # FILE PID NAME: waits for NAME=VALUE on the file, prints VALUE
  for _ in $(seq 1 300); do
    if grep -q "^$3=" "$1"; then sed -n "s/^$3=//p" "$1" | head -n1; return 0; fi
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  log "no $3 from pid $2"; return 1
}

cat > "$work/script.json" <<'JSON'
{"models": {
  "m-a": {"reply": {"fixed": "Paris is the capital of France."}},
  "m-b": {"reply": {"fixed": "The capital of France is Paris, on the Seine."}},
  "judge": {"reply": {"fixed": "{\"consensus\": [\"Paris\"], \"contradictions\": [], \"partial_coverage\": [], \"unique_insights\": [], \"blind_spots\": [], \"judge_notes\": [\"Response A and Response B agree\"]}"}},
  "synth": {"reply": {"fixed": "Paris."}}
}}
JSON
RUST_LOG=warn "$BIN/mock-provider" --script "$work/script.json" > "$work/mock.out" 2> "$work/mock.err" &
mock=$!; pids+=("$mock")
mock_url=$(wait_line "$work/mock.out" "$mock" MOCK_PROVIDER_URL)

cat > "$work/fusion.toml" <<TOML
[server]
listen = "127.0.0.1:0"

[storage]
url = "sqlite://$work/fusion.db"

[router]
discover = false

[[providers]]
name = "mock"
kind = "openai"
base_url = "$mock_url"
tier = "local"

[[models]]
id = "m-a"
provider = "mock"
[[models]]
id = "m-b"
provider = "mock"
[[models]]
id = "judge"
provider = "mock"
[[models]]
id = "synth"
provider = "mock"

[councils.default]
panel = [{ model = "m-a" }, { model = "m-b" }]
judge = { model = "judge" }
synthesizer = { model = "synth" }
TOML
RUST_LOG=warn "$BIN/fusion" serve --config "$work/fusion.toml" > "$work/fusion.out" 2> "$work/fusion.err" &
fusion=$!; pids+=("$fusion")
url=$(wait_line "$work/fusion.out" "$fusion" FUSION_LISTEN_URL)
log "fusion serve at $url"
curl -sf "$url/v1/chat/completions" -H 'content-type: application/json' \
  -d '{"model": "fusion/default", "messages": [{"role": "user", "content": "Capital of France?"}]}' >/dev/null

driver_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
chromedriver --port="$driver_port" --allowed-ips=127.0.0.1 > "$work/driver.log" 2>&1 &
pids+=("$!")
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
python3 "$ROOT/bench/dashboard/measure.py" "http://127.0.0.1:$driver_port" "$url" "$RUNS" "$work" "$rev" \
  | tee "$ROOT/bench/results/dashboard-latest.md"
