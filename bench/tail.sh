#!/usr/bin/env bash
# Where the gateway's tail comes from (a diagnostic, not a test; issue 21): `fusion serve` in
# front of mock-provider under one connection back to back (wrk, bench/gateway/post.lua) while
# `perf sched record` traces every context switch for TAIL_SECS (5) seconds; then every delay of
# a fusion thread — time runnable but waiting for a CPU — of TAIL_MIN_MS (0.2) ms or more is
# blamed on the task that held the CPU just before (bench/tail/attribute.py). wrk's own latency
# line is printed too (perf adds overhead: read the attribution, not the absolute latency).
# Needs perf (Debian: linux-perf) and root. TAIL_NO_BUILD=1 skips the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fusion-target}"
BIN="$CARGO_TARGET_DIR/release"
SECS="${TAIL_SECS:-5}"
log() { echo "[tail] $*" >&2; }
command -v perf >/dev/null || { apt-get install -y linux-perf >&2 || { apt-get update >&2 && apt-get install -y linux-perf >&2; }; }
command -v wrk >/dev/null || { apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }; }
[[ "${TAIL_NO_BUILD:-0}" == 1 ]] || cargo build --release --locked -p fusion-cli -p fusion-mock-provider >&2
work=$(mktemp -d)
export FUSION_DATA_DIR="$work/data"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
wait_line() { for _ in $(seq 1 300); do grep -q "^$2=" "$1" 2>/dev/null && { sed -n "s/^$2=//p" "$1" | head -n1; return 0; }; sleep 0.1; done; return 1; }

echo '{"models": {"fixed": {"reply": {"fixed": "Hello from the mock."}}}}' > "$work/script.json"
RUST_LOG=warn "$BIN/mock-provider" --script "$work/script.json" > "$work/mock.out" 2>&1 &
pids+=($!)
url=$(wait_line "$work/mock.out" MOCK_PROVIDER_URL)
printf '[storage]\nurl = "sqlite://%s/fusion.db"\n[[providers]]\nname = "mock"\nkind = "openai"\nbase_url = "%s"\nmax_concurrency = 256\nretries = 0\n[[models]]\nid = "fixed"\nprovider = "mock"\n' "$work" "$url" > "$work/fusion.toml"
"$BIN/fusion" serve --config "$work/fusion.toml" --listen 127.0.0.1:0 > "$work/serve.out" 2> "$work/serve.err" &
fusion=$!; pids+=("$fusion")
base=$(wait_line "$work/serve.out" FUSION_LISTEN_URL)
sleep 1
BODY='{"model":"fixed","messages":[{"role":"user","content":"hi"}]}' \
  wrk -t1 -c1 -d"$((SECS + 6))s" -s bench/gateway/post.lua "$base/v1/chat/completions" > "$work/wrk.out" &
wrk=$!; pids+=("$wrk")
sleep 3
perf sched record -o "$work/sched.data" -- sleep "$SECS" > /dev/null 2>&1
wait "$wrk" || true
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "## Tail attribution — $(date -u +%Y-%m-%d) at $rev ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
echo
echo "wrk (1 connection, under perf): $(tail -n1 "$work/wrk.out" | sed 's/errors_connect.*//')"
echo
perf sched timehist -i "$work/sched.data" 2>/dev/null | python3 bench/tail/attribute.py "$fusion" "${TAIL_MIN_MS:-0.2}"
