#!/usr/bin/env bash
# Task queue benchmark (not a test): `fusion serve` (release) in front of mock-provider, on a
# SQLite store and on PostgreSQL (scripts/postgres.sh). For each store, bench/tasks/measure.py
# submits TB_SUBMIT tasks over REST from TB_THREADS threads (submissions per second), waits
# until all have run against the mock (end-to-end tasks per second), then times TB_STATUS
# sequential status reads over REST (`GET /api/tasks/{id}`) and over MCP (`get_task_status`
# through the official Python SDK on /mcp). Prints a Markdown table and writes it to
# bench/results/tasks-latest.md. Everything listens on 127.0.0.1 and is stopped on exit.
# Environment: TB_SUBMIT (2000), TB_THREADS (8), TB_STATUS (1000), TB_STORES ("sqlite postgres"),
# TB_REMOTE_SLOTS (64: slots of the mock's provider, so the run measures the queue, not the mock).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fusion-target}"
SUBMIT="${TB_SUBMIT:-2000}"; THREADS="${TB_THREADS:-8}"; STATUS="${TB_STATUS:-1000}"
STORES="${TB_STORES:-sqlite postgres}"; SLOTS="${TB_REMOTE_SLOTS:-64}"
log() { echo "[tasks-bench] $*" >&2; }

while IFS='=' read -r name value; do export "$name=$value"; done < <(scripts/install-peers.sh)
cargo build --release --locked -p fusion-cli -p fusion-mock-provider >&2
BIN="$CARGO_TARGET_DIR/release"

work=$(mktemp -d)
# Whatever Fusion stores goes to the run dir, never to the user's data dir.
export FUSION_DATA_DIR="$work/fusion-data"
pids=()
pg_started=""
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  [[ -n "$pg_started" ]] && scripts/postgres.sh stop >&2 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_line() { # FILE PID NAME
  for _ in $(seq 1 300); do
    if grep -q "^$3=" "$1"; then sed -n "s/^$3=//p" "$1" | head -n1; return 0; fi
    kill -0 "$2" 2>/dev/null || break; sleep 0.1
  done
  log "no $3 from pid $2"; cat "${1%.out}.err" >&2 || true; return 1
}

echo '{"models": {"fixed": {"reply": {"fixed": "done"}}}}' > "$work/script.json"
RUST_LOG=warn "$BIN/mock-provider" --script "$work/script.json" > "$work/mock.out" 2> "$work/mock.err" &
mock=$!; pids+=("$mock")
mock_url=$(wait_line "$work/mock.out" "$mock" MOCK_PROVIDER_URL)

rows=()
for store in $STORES; do
  case "$store" in
    sqlite) url="sqlite://$work/fusion.db" ;;
    postgres)
      # Stopped on exit only if this run started it.
      pg_isready -q -h 127.0.0.1 -p 55432 2>/dev/null || pg_started=1
      while IFS='=' read -r name value; do export "$name=$value"; done < <(scripts/postgres.sh)
      db="fusion_bench_$$"
      psql "$FUSION_TEST_POSTGRES_URL" -q -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
      url="${FUSION_TEST_POSTGRES_URL%/*}/$db" ;;
    *) log "unknown store $store"; exit 2 ;;
  esac
  cat > "$work/$store.toml" <<TOML
[storage]
url = "$url"

[router]
discover = false

[tasks]
remote_slots = $SLOTS
poll_interval = "1s"

[[providers]]
name = "mock"
kind = "openai"
base_url = "$mock_url"
tier = "free"
max_concurrency = 256
retries = 0

[[models]]
id = "fixed"
provider = "mock"
TOML
  "$BIN/fusion" serve --config "$work/$store.toml" --listen 127.0.0.1:0 > "$work/$store.out" 2> "$work/$store.err" &
  pid=$!; pids+=("$pid")
  base=$(wait_line "$work/$store.out" "$pid" FUSION_LISTEN_URL)
  log "$store: fusion serve at $base; $SUBMIT tasks from $THREADS threads"
  "$FUSION_PEERS_PYTHON" "$ROOT/bench/tasks/measure.py" "$base" fixed "$SUBMIT" "$THREADS" "$STATUS" "$work/$store.json" >&2
  rows+=("$store")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
done

mkdir -p bench/results
python3 - "$work" "$(git rev-parse --short HEAD)" "$SUBMIT" "$THREADS" "$STATUS" "${rows[@]}" <<'PY' | tee bench/results/tasks-latest.md
import json, sys, time
work, rev, submit, threads, status, *stores = sys.argv[1:]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"# Task queue — {time.strftime('%Y-%m-%d', time.gmtime())}, commit {rev}\n")
print(f"{submit} submissions from {threads} threads, {status} status reads; {cpu}\n")
print("| store | submissions/s | submit p50 / p99 | tasks/s end to end | REST status p50 / p99 | MCP get_task_status p50 / p99 |")
print("|---|---|---|---|---|---|")
for s in stores:
    r = json.load(open(f"{work}/{s}.json"))
    mcp = (f"{r['mcp_status_p50_ms']:.2f} / {r['mcp_status_p99_ms']:.2f} ms"
           if "mcp_status_p50_ms" in r else "—")
    print(f"| {s} | {r['submissions_per_s']:,.0f} | {r['submit_p50_ms']:.2f} / {r['submit_p99_ms']:.2f} ms | "
          f"{r['tasks_per_s_end_to_end']:,.0f} | {r['rest_status_p50_ms']:.2f} / {r['rest_status_p99_ms']:.2f} ms | {mcp} |")
PY
