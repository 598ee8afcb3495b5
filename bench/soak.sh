#!/usr/bin/env bash
# Soak (not a test; issue 21): `fusion serve` (release) under SOAK_SECS of mixed traffic at a
# fixed SOAK_RATE against mock-provider upstreams, watched for leaks. The traffic
# (bench/soak/loadgen.py, open loop: request i is due at i/rate whatever the server does) mixes
# plain and streamed chat completions, a council (`fusion/soak`: three members, judge and
# synthesizer), routed requests (`router/auto`), MCP `tools/call` over Streamable HTTP `/mcp`
# through the hub to two real children (mcp-server-time and server-everything, from the peers)
# with the official `mcp` Python SDK on one session, and async task submissions (`/api/tasks`).
# bench/soak/sample.py records fusion's VmRSS/RssAnon/RssFile, threads, open fds, CPU and its
# child processes every SOAK_SAMPLE_SECS. After the load it waits (up to SOAK_DRAIN_SECS) for
# every task to end, keeps sampling fusion idle for SOAK_IDLE_SECS, then reads the task states,
# `/metrics` and the MCP servers' restarts.
# bench/soak/report.py prints the pass/fail rules and writes bench/results/soak-DATE-COMMIT.md:
#   0 errors; RSS growth < 10% from minute 1 (or a quarter of a shorter run) to the end of the
#   load; no fd kept (client connections closed, files and pipes not growing, fds back to their
#   idle count once the upstream keep-alive pool has expired); child processes not growing; no
#   task left queued or running after the drain, none failed; no ledger row dropped; the
#   generator held the rate. Exit status 0 when every rule passes, 1 when one fails.
# Everything listens on 127.0.0.1; every process started here is stopped on exit.
# Usage: bench/soak.sh (about SOAK_SECS + 5 minutes once built). Environment: SOAK_SECS (600),
# SOAK_RATE (500 req/s), SOAK_MIX ("plain=40,stream=20,council=4,routed=16,mcp=10,task=10"),
# SOAK_SAMPLE_SECS (5), SOAK_DRAIN_SECS (120), SOAK_IDLE_SECS (200; under 180 the upstream pool
# is not checked), SOAK_NO_BUILD=1 (use the release binaries already built), SOAK_KEEP=1 (keep
# the run dir), SOAK_OUT (the report's path), SOAK_HOLD=1 (start the stack, print SOAK_URL=...
# and hold it until interrupted: to run bench/soak/loadgen.py by hand).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SECS="${SOAK_SECS:-600}"
RATE="${SOAK_RATE:-500}"
MIX="${SOAK_MIX:-plain=40,stream=20,council=4,routed=16,mcp=10,task=10}"
SAMPLE_SECS="${SOAK_SAMPLE_SECS:-5}"
DRAIN_SECS="${SOAK_DRAIN_SECS:-120}"
IDLE_SECS="${SOAK_IDLE_SECS:-200}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fusion-target}"
BIN="$CARGO_TARGET_DIR/release"
log() { echo "[soak] $(date -u +%H:%M:%S) $*" >&2; }
for v in SECS RATE SAMPLE_SECS DRAIN_SECS IDLE_SECS; do
  [[ "${!v}" =~ ^[0-9]+$ && "${!v}" -gt 0 ]] || { log "SOAK_$v must be a positive integer, got '${!v}'"; exit 2; }
done
(( SECS >= 4 * SAMPLE_SECS )) ||
  { log "SOAK_SECS ($SECS) must be at least 4 × SOAK_SAMPLE_SECS ($SAMPLE_SECS): too few samples otherwise"; exit 2; }

# --- peers and build ----------------------------------------------------------------------------
# The peers come from the environment (`set -a; . /tmp/peers.out; set +a`), else from
# scripts/install-peers.sh, which installs what is missing and prints NAME=PATH lines.
if [[ -z "${FUSION_PEERS_PYTHON:-}" || -z "${FUSION_MCP_TIME:-}" || -z "${FUSION_MCP_EVERYTHING:-}" ]]; then
  log "finding the peers with scripts/install-peers.sh"
  peers=$(scripts/install-peers.sh)
  FUSION_PEERS_PYTHON=$(sed -n 's/^FUSION_PEERS_PYTHON=//p' <<<"$peers")
  FUSION_MCP_TIME=$(sed -n 's/^FUSION_MCP_TIME=//p' <<<"$peers")
  FUSION_MCP_EVERYTHING=$(sed -n 's/^FUSION_MCP_EVERYTHING=//p' <<<"$peers")
fi
for p in FUSION_PEERS_PYTHON FUSION_MCP_TIME FUSION_MCP_EVERYTHING; do
  [[ -x "${!p}" ]] || { log "$p is not an executable: '${!p}' (run scripts/install-peers.sh)"; exit 1; }
done
"$FUSION_PEERS_PYTHON" -c 'import mcp, httpx2' 2>/dev/null ||
  { log "the mcp Python SDK is missing from $FUSION_PEERS_PYTHON (run scripts/install-peers.sh)"; exit 1; }
if [[ "${SOAK_NO_BUILD:-}" != 1 ]]; then
  cargo build --release --locked -p fusion-cli -p fusion-mock-provider >&2
fi
for b in fusion mock-provider; do
  [[ -x "$BIN/$b" ]] || { log "$BIN/$b is missing (build it, or drop SOAK_NO_BUILD)"; exit 1; }
done

work=$(mktemp -d /tmp/fusion-soak.XXXXXX)
# Whatever Fusion stores goes to the run dir, never to the user's data dir.
export FUSION_DATA_DIR="$work/fusion-data"
pids=()
fusion=
cleanup() {
  local p kids=""
  # fusion's children (the MCP servers) are its to stop; any left after it exits are stopped here.
  if [[ -n "$fusion" ]]; then kids=$(python3 "$ROOT/bench/soak/sample.py" --children "$fusion" 2>/dev/null || true); fi
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}" $kids; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  if [[ "${SOAK_KEEP:-}" == 1 ]]; then log "run dir kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_line() { # FILE PID NAME: the value of the first NAME=... line FILE gets
  local file=$1 pid=$2 name=$3
  for _ in $(seq 1 300); do
    if grep -q "^$name=" "$file"; then sed -n "s/^$name=//p" "$file" | head -n1; return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  log "no $name from pid $pid; its stderr:"; tail -n 30 "${file%.out}.err" >&2 || true; return 1
}
now() { python3 -c 'import time; print(round(time.time(), 3))'; }
cpu_some() { sed -n 's/^some avg10=[0-9.]* avg60=\([0-9.]*\).*/\1/p' /proc/pressure/cpu 2>/dev/null || echo "?"; }
builds() { if pgrep -x rustc > /dev/null || pgrep -x cargo > /dev/null; then echo yes; else echo no; fi; }

# --- mock provider: one model per kind of traffic -----------------------------------------------
judge='{"consensus":["x"],"contradictions":[],"partial_coverage":[],"unique_insights":[],"blind_spots":[],"judge_notes":[]}'
python3 - "$work/script.json" "$judge" <<'PY'
import json, sys
path, judge = sys.argv[1], sys.argv[2]
def fixed(text, ms=0, **extra):
    return {"reply": {"fixed": text}, "latency_ms": ms, **extra}
json.dump({"models": {
    "fixed": fixed("Hello from the mock."),
    # 12 words, one per SSE chunk, 5 ms apart: a stream stays open ~60 ms.
    "streamer": fixed("one two three four five six seven eight nine ten eleven twelve", 0,
                      chunk_delay_ms=5, chunk_words=1),
    "small": fixed("small says hi", 5),
    "big": fixed("big says hi", 5),
    "m1": fixed("Answer from the first member.", 20),
    "m2": fixed("Answer from the second member.", 40),
    "m3": fixed("Answer from the third member.", 60),
    "judge": fixed(judge, 10),
    "synth": fixed("The synthesized answer.", 10),
    "tasker": fixed("Done by a task.", 20),
}}, open(path, "w"))
PY
RUST_LOG=warn "$BIN/mock-provider" --script "$work/script.json" > "$work/mock.out" 2> "$work/mock.err" &
mock=$!; pids+=("$mock")
mock_url=$(wait_line "$work/mock.out" "$mock" MOCK_PROVIDER_URL)

# --- fusion serve --------------------------------------------------------------------------------
model() { printf '[[models]]\nid = "%s"\nprovider = "%s"\n%s\n\n' "$1" "$2" "${3:-}"; }
{
  cat <<TOML
[storage]
url = "sqlite://$work/fusion.db"

[router]
discover = false

[tasks]
remote_slots = 8

[councils.soak]
panel = [{ model = "m1" }, { model = "m2" }, { model = "m3" }]
judge = { model = "judge" }
synthesizer = { model = "synth" }

[[providers]]
name = "local"
kind = "openai"
base_url = "$mock_url"
tier = "local"
max_concurrency = 256
retries = 0
timeout = "30s"

[[providers]]
name = "paid"
kind = "openai"
base_url = "$mock_url"
tier = "paid"
max_concurrency = 256
retries = 0
timeout = "30s"

[[mcp.servers]]
name = "time"
command = "$FUSION_MCP_TIME"
args = ["--local-timezone", "UTC"]

[[mcp.servers]]
name = "everything"
command = "$FUSION_MCP_EVERYTHING"
args = ["stdio"]

TOML
  for m in fixed streamer m1 m2 m3 judge synth; do model "$m" local; done
  model small local $'context_window = 4096\nquality = { default = 0.5 }'
  model big paid $'context_window = 128000\nprice = { input_per_mtok = 1.0, output_per_mtok = 2.0 }\nquality = { default = 0.9 }'
  model tasker paid
} > "$work/fusion.toml"
"$BIN/fusion" config check --config "$work/fusion.toml" > "$work/check.out" 2>&1 ||
  { cat "$work/check.out" >&2; exit 1; }
"$BIN/fusion" serve --config "$work/fusion.toml" --listen 127.0.0.1:0 > "$work/fusion.out" 2> "$work/fusion.err" &
fusion=$!; pids+=("$fusion")
url=$(wait_line "$work/fusion.out" "$fusion" FUSION_LISTEN_URL)
url="${url%/}"; url="${url%/v1}"
curl -sf "$url/health" > /dev/null
log "fusion serve at $url (pid $fusion), mock-provider at $mock_url (pid $mock)"

if [[ "${SOAK_HOLD:-}" == 1 ]]; then # debugging: the stack alone, until interrupted
  echo "SOAK_URL=$url"; echo "SOAK_FUSION_PID=$fusion"; echo "SOAK_DIR=$work"
  wait "$fusion"; exit 0
fi

# --- preflight: every kind answers once before the clock starts ----------------------------------
"$FUSION_PEERS_PYTHON" "$ROOT/bench/soak/loadgen.py" --url "$url" --rate 20 --secs 3 --mix "$MIX" \
  --out "$work/preflight.json" 2> "$work/preflight.err" ||
  { log "preflight failed:"; cat "$work/preflight.err" >&2; exit 1; }
python3 - "$work/preflight.json" <<'PY' || exit 1
import json, sys
r = json.load(open(sys.argv[1]))
bad = {k: v for k, v in r["kinds"].items() if v["errors"] or v["ok"] == 0}
for k, v in bad.items():
    print(f"[soak] preflight: {k} ok={v['ok']} errors={v['errors']} {v['error_samples'][:2]}", file=sys.stderr)
sys.exit(1 if bad or r.get("mcp_session_error") else 0)
PY
sleep 2

# --- the soak ------------------------------------------------------------------------------------
port_of() { local u=${1#*://}; u=${u%%/*}; echo "${u##*:}"; }
python3 "$ROOT/bench/soak/sample.py" "$work/samples.jsonl" "$SAMPLE_SECS" fusion="$fusion" mock="$mock" \
  --port inbound="$(port_of "$url")" --port upstream="$(port_of "$mock_url")" &
sampler=$!; pids+=("$sampler")
sleep "$SAMPLE_SECS"
echo "{\"event\": \"load_start\", \"t\": $(now)}" > "$work/events.jsonl"
load_before=$(cut -d' ' -f1 /proc/loadavg); cpu_before=$(cpu_some); builds_before=$(builds)
log "load: $RATE req/s for $SECS s, mix $MIX"
"$FUSION_PEERS_PYTHON" "$ROOT/bench/soak/loadgen.py" --url "$url" --rate "$RATE" --secs "$SECS" --mix "$MIX" \
  --out "$work/load.json" &
loadgen=$!; pids+=("$loadgen")
wait "$loadgen" || { log "the load generator failed"; exit 1; }
echo "{\"event\": \"load_end\", \"t\": $(now)}" >> "$work/events.jsonl"
printf '{"load_before": "%s", "load_after": "%s", "cpu_some_before": "%s", "cpu_some_after": "%s", "builds": "%s"}\n' \
  "$load_before" "$(cut -d' ' -f1 /proc/loadavg)" "$cpu_before" "$(cpu_some)" \
  "$builds_before before, $(builds) after" > "$work/machine.json"

# --- drain: every task reaches a final state -----------------------------------------------------
task_total() { # STATUS: how many tasks the REST API has in it ("?" when it does not answer)
  curl -sf --max-time 10 "$url/api/tasks?status=$1&page_size=1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])' 2>/dev/null || echo "?"
}
open_tasks() { # queued + running ("?" when the API does not answer)
  local q r; q=$(task_total queued); r=$(task_total running)
  if [[ "$q" == "?" || "$r" == "?" ]]; then echo "?"; else echo $((q + r)); fi
}
kill -0 "$fusion" 2>/dev/null || { log "fusion exited during the load; its stderr:"; tail -n 30 "$work/fusion.err" >&2; exit 1; }
left=$(open_tasks)
for _ in $(seq 1 "$DRAIN_SECS"); do
  [[ "$left" == 0 ]] && break
  sleep 1
  left=$(open_tasks)
done
log "drain: $left task(s) still queued or running"
echo "{\"event\": \"drained\", \"t\": $(now)}" >> "$work/events.jsonl"
# Idle samples after the load: long enough by default for the provider clients' keep-alive pools
# to drop their connections (idle timeout 90 s, checked every 90 s), so fds can be compared
# with their count before the load.
sleep "$(( IDLE_SECS > 2 * SAMPLE_SECS ? IDLE_SECS : 2 * SAMPLE_SECS ))"
echo "{\"event\": \"end\", \"t\": $(now)}" >> "$work/events.jsonl"
kill -TERM "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true

# --- final state ----------------------------------------------------------------------------------
for s in queued running completed failed cancelled; do
  t=$(task_total "$s"); [[ "$t" == "?" ]] && { log "/api/tasks did not answer"; exit 1; }
  printf '"%s": %s,\n' "$s" "$t"
done | { echo "{"; cat; echo '"_": 0}'; } > "$work/tasks.json"
curl -sf "$url/api/tasks?status=failed&page_size=5" > "$work/failed_tasks.json" || true
curl -sf "$url/metrics" > "$work/metrics.txt" || echo "# /metrics did not answer" > "$work/metrics.txt"
curl -sf "$url/api/mcp/servers" > "$work/mcp_servers.json" || echo '{}' > "$work/mcp_servers.json"
du -sk "$work"/fusion.db* 2>/dev/null | awk '{s += $1} END {print s + 0}' > "$work/store_kib.txt"

rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null || rev="$rev+uncommitted"
out="${SOAK_OUT:-bench/results/soak-$(date -u +%Y-%m-%d)-$rev.md}"
mkdir -p "$(dirname "$out")"
status=0
# With SOAK_NO_BUILD the binary may be older than the tree: the report says when it was built.
built=$(date -u -r "$BIN/fusion" '+%Y-%m-%d %H:%M UTC')
SOAK_BINARY_BUILT="$built" python3 "$ROOT/bench/soak/report.py" "$work" "$rev" "$out" || status=$?
log "report: $out"
exit "$status"
