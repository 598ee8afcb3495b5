#!/usr/bin/env bash
# Gateway overhead benchmark (not a test). Starts mock-provider (fixed reply) on 127.0.0.1,
# `fusion serve` in front of it and, later, the LiteLLM proxy in front of the same mock, then
# measures each target with wrk (bench/gateway/post.lua) and a streaming loop
# (bench/gateway/measure.py): latency at 1 connection, at a fixed 1,000 req/s (and at 50 req/s,
# which LiteLLM also sustains), maximum req/s at 10 connections, streamed time to the first
# `data:` line, and RSS/CPU of each process. Direct and fusion are measured in alternating
# rounds. Prints a Markdown report and writes it to bench/results/gateway-latest.md.
#
# Installs what it needs when missing: wrk (apt) and the LiteLLM proxy in its own venv under
# ~/.cache/fusion-peers. Everything listens on 127.0.0.1 and is stopped on exit. About 6 minutes
# after the build and installs.
# Usage: bench/gateway.sh. Environment: GW_DURATION (seconds per run, 10), GW_ROUNDS (rounds for
# direct and fusion, 3), GW_LITELLM_ROUNDS (1), GW_STREAMS (streamed requests per target, 200),
# GW_RATE (1000), GW_LOW_RATE (50), GW_TARGETS ("direct fusion litellm"), GW_UPSTREAM ("mock", or
# "aiohttp": bench/gateway/aiohttp_upstream.py, an independent Python upstream — installed in its
# own venv under ~/.cache/fusion-peers — slower than the mock, like the outside probe's), GW_NO_BUILD
# (1 skips the release build).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PEERS="$HOME/.cache/fusion-peers"
LITELLM_VENV="$PEERS/litellm-venv"
BENCH_VENV="$PEERS/bench-venv"
UPSTREAM="${GW_UPSTREAM:-mock}"
TARGETS="${GW_TARGETS:-direct fusion litellm}"
ROUNDS="${GW_ROUNDS:-3}"
LITELLM_ROUNDS="${GW_LITELLM_ROUNDS:-1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fusion-target}"
BIN="$CARGO_TARGET_DIR/release"
log() { echo "[gateway-bench] $*" >&2; }

# --- tools ---------------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  log "installing wrk"
  apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }
fi
if [[ "$UPSTREAM" == aiohttp && ! -x "$BENCH_VENV/bin/python" ]]; then
  log "installing aiohttp into $BENCH_VENV"
  mkdir -p "$PEERS"
  python3 -m venv "$BENCH_VENV"
  "$BENCH_VENV/bin/pip" install -q aiohttp >&2
fi
if [[ " $TARGETS " == *" litellm "* && ! -x "$LITELLM_VENV/bin/litellm" ]]; then
  log "installing LiteLLM proxy into $LITELLM_VENV (about a minute)"
  mkdir -p "$PEERS"
  python3 -m venv "$LITELLM_VENV"
  "$LITELLM_VENV/bin/pip" install -q 'litellm[proxy]' >&2
fi
[[ "${GW_NO_BUILD:-0}" == 1 ]] || cargo build --release --locked -p fusion-cli -p fusion-mock-provider >&2

work=$(mktemp -d)
# Whatever Fusion stores goes to the run dir, never to the user's data dir.
export FUSION_DATA_DIR="$work/fusion-data"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits for "NAME=VALUE" on stdout file $1 (process $2), prints VALUE.
wait_line() {
  local file=$1 pid=$2 name=$3 tries=${4:-300}
  for _ in $(seq 1 "$tries"); do
    if grep -q "^$name=" "$file"; then sed -n "s/^$name=//p" "$file" | head -n1; return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  log "no $name from pid $pid; its stderr:"; cat "${file%.out}.err" >&2 || true
  return 1
}

# --- upstream: mock-provider, or the independent aiohttp server ----------------------------
if [[ "$UPSTREAM" == aiohttp ]]; then
  "$BENCH_VENV/bin/python" bench/gateway/aiohttp_upstream.py > "$work/mock.out" 2> "$work/mock.err" &
  mock=$!; pids+=("$mock")
  mock_url=$(wait_line "$work/mock.out" "$mock" UPSTREAM_URL)
  log "aiohttp upstream at $mock_url (pid $mock)"
else
  echo '{"models": {"fixed": {"reply": {"fixed": "Hello from the mock."}}}}' > "$work/script.json"
  RUST_LOG=warn "$BIN/mock-provider" --script "$work/script.json" > "$work/mock.out" 2> "$work/mock.err" &
  mock=$!; pids+=("$mock")
  mock_url=$(wait_line "$work/mock.out" "$mock" MOCK_PROVIDER_URL)
  log "mock-provider at $mock_url (pid $mock)"
fi

# --- meta -------------------------------------------------------------------------------------
litellm_version=$([[ -x "$LITELLM_VENV/bin/python" ]] &&
  "$LITELLM_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' || echo "not installed")
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null || rev="$rev+uncommitted"
python3 - "$work/meta.json" "$rev" "$litellm_version" "$(wrk --version 2>&1 | head -n1 | awk '{print $1, $2}')" \
  "$ROUNDS" "$LITELLM_ROUNDS" <<'PY'
import json, os, platform, re, sys, time
out, rev, litellm, wrk, rounds, litellm_rounds = sys.argv[1:7]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
osr = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', open("/etc/os-release").read(), re.M))
json.dump({"date": time.strftime("%Y-%m-%d", time.gmtime()), "fusion_rev": rev,
           "litellm_version": litellm, "wrk_version": wrk, "python_version": platform.python_version(),
           "cpus": os.cpu_count(), "cpu_model": cpu, "mem_gib": round(mem / 2**20),
           "os": osr.get("PRETTY_NAME", "?"), "kernel": platform.release(),
           "rounds": {"direct_fusion": int(rounds), "litellm": int(litellm_rounds)},
           "upstream": os.environ.get("GW_UPSTREAM", "mock")}, open(out, "w"))
PY

measure() { # ROUNDS, then NAME URL MODEL PID TOKEN for each target (TOKEN may be "")
  local rounds=$1; shift
  python3 - "$work/targets.json" "$mock" "$@" <<'PY'
import json, sys
out, mock, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
targets = []
while args:
    name, url, model, pid, token = args[:5]
    args = args[5:]
    targets.append({"name": name, "url": url, "model": model, "pid": int(pid), "token": token})
json.dump({"mock_pid": mock, "targets": targets}, open(out, "w"))
PY
  python3 "$ROOT/bench/gateway/measure.py" run "$work" "$rounds" "$work/targets.json"
}

# --- direct and fusion (measured together, alternating run by run) ---------------------------
set -- # measured together with direct, alternating run by run
if [[ " $TARGETS " == *" direct "* ]]; then set -- "$@" direct "$mock_url" fixed "$mock" ""; fi
if [[ " $TARGETS " == *" fusion "* ]]; then
  # The usage ledger is on (it always is): every call is written to this SQLite store.
  cat > "$work/fusion.toml" <<TOML
[storage]
url = "sqlite://$work/fusion.db"

[[providers]]
name = "mock"
kind = "openai"
base_url = "$mock_url"
max_concurrency = 256
retries = 0

[[models]]
id = "fixed"
provider = "mock"
TOML
  # The binary leaves the page cache first, so its RSS does not depend on what wrote or read the
  # file before (a just-linked binary's large folios are mapped whole; bench/memory.sh).
  python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$BIN/fusion"
  "$BIN/fusion" serve --config "$work/fusion.toml" --listen 127.0.0.1:0 > "$work/fusion.out" 2> "$work/fusion.err" &
  fusion=$!; pids+=("$fusion")
  fusion_url=$(wait_line "$work/fusion.out" "$fusion" FUSION_LISTEN_URL)
  fusion_url="${fusion_url%/}"; fusion_url="${fusion_url%/v1}"
  curl -sf "$fusion_url/health" > /dev/null
  log "fusion serve at $fusion_url (pid $fusion)"
  set -- "$@" fusion "$fusion_url/v1" fixed "$fusion" ""
fi
if [[ $# -gt 0 ]]; then
  sleep 1
  log "measuring $(printf '%s\n' "$@" | awk 'NR % 5 == 1' | xargs), $ROUNDS rounds"
  measure "$ROUNDS" "$@"
  if [[ -f "$work/fusion.toml" ]]; then
    # Every request fusion relayed is a ledger row: the count shows it kept up.
    log "usage ledger: $("$BIN/fusion" usage --config "$work/fusion.toml" | head -n 1)"
  fi
fi

# --- LiteLLM (started only now, so its start-up and idle work don't disturb the others) -------
if [[ " $TARGETS " == *" litellm "* ]]; then
  key="sk-$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  log "starting LiteLLM proxy on 127.0.0.1:$port (takes a while)"
  OPENAI_API_KEY=sk-fake LITELLM_MASTER_KEY="$key" LITELLM_LOCAL_MODEL_COST_MAP=True \
    LITELLM_TELEMETRY=False "$LITELLM_VENV/bin/litellm" --model openai/fixed --api_base "$mock_url" \
    --host 127.0.0.1 --port "$port" > "$work/litellm.out" 2> "$work/litellm.err" &
  litellm=$!; pids+=("$litellm")
  ok=
  for _ in $(seq 1 240); do # up to 120 s
    if curl -sf -o /dev/null "http://127.0.0.1:$port/health/liveliness"; then ok=1; break; fi
    kill -0 "$litellm" 2>/dev/null || break
    sleep 0.5
  done
  if [[ -z "$ok" ]]; then log "LiteLLM did not start:"; tail -n 30 "$work/litellm.err" >&2; exit 1; fi
  litellm_model=$(curl -sf "http://127.0.0.1:$port/v1/models" -H "authorization: Bearer $key" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["data"][0]["id"])')
  sleep 2
  log "measuring LiteLLM at http://127.0.0.1:$port/v1 (pid $litellm, model $litellm_model), $LITELLM_ROUNDS round(s)"
  measure "$LITELLM_ROUNDS" litellm "http://127.0.0.1:$port/v1" "$litellm_model" "$litellm" "$key"
fi

# Raw figures, outside the repo: `bench/gateway/measure.py report DIR OUT.md` re-renders them.
mkdir -p "$PEERS/gateway-bench-last" bench/results
rm -f "$PEERS/gateway-bench-last/"*.json
for f in meta direct fusion litellm; do
  if [[ -f "$work/$f.json" ]]; then cp "$work/$f.json" "$PEERS/gateway-bench-last/"; fi
done
python3 "$ROOT/bench/gateway/measure.py" report "$work" bench/results/gateway-latest.md
