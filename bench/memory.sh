#!/usr/bin/env bash
# Memory benchmark (not a test): what each long- and short-lived Fusion process holds, split
# into anonymous memory (what the process allocated) and file-backed pages (the mapped binary):
#   1. `fusion serve` in front of mock-provider: idle after start, the peak during
#      MEM_LOAD_SECS (10) of unpaced load at 10 connections (wrk, bench/gateway/post.lua), and
#      idle again MEM_SETTLE_SECS (10) after the load;
#   2. `fusion ask` running a three-member council on mock-provider (as bench/council.sh):
#      the peak over MEM_ASK_RUNS (5) runs;
#   3. `fusion mcp` with two real children (mcp-server-time from PyPI, server-everything from
#      npm) after the official Python SDK listed the catalog and made MEM_MCP_CALLS (200) calls;
#      Fusion's process only, the children excluded.
# Samples /proc/PID/status (VmRSS, RssAnon, RssFile) every 20 ms; the binary is dropped from the
# page cache before each process starts (see `evict`). Prints a Markdown report
# and writes it to bench/results/memory-latest.md. MEM_NO_BUILD=1 skips the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fusion-target}"
BIN="$CARGO_TARGET_DIR/release"
LOAD_SECS="${MEM_LOAD_SECS:-10}"
SETTLE_SECS="${MEM_SETTLE_SECS:-10}"
ASK_RUNS="${MEM_ASK_RUNS:-5}"
MCP_CALLS="${MEM_MCP_CALLS:-200}"
log() { echo "[memory-bench] $*" >&2; }

peers=$(scripts/install-peers.sh)
peer() { sed -n "s/^$1=//p" <<<"$peers"; }
PY=$(peer FUSION_PEERS_PYTHON); TIME_SERVER=$(peer FUSION_MCP_TIME); EVERYTHING=$(peer FUSION_MCP_EVERYTHING)
[[ -x "$PY" && -x "$TIME_SERVER" && -x "$EVERYTHING" ]] || { log "peers missing: $peers"; exit 1; }
command -v wrk >/dev/null || { apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }; }
[[ "${MEM_NO_BUILD:-0}" == 1 ]] || cargo build --release --locked -p fusion-cli -p fusion-mock-provider >&2

work=$(mktemp -d)
export FUSION_DATA_DIR="$work/data"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

wait_line() { # FILE NAME: the value of NAME=... once it appears
  for _ in $(seq 1 300); do
    grep -q "^$2=" "$1" 2>/dev/null && { sed -n "s/^$2=//p" "$1" | head -n1; return 0; }
    sleep 0.1
  done
  log "no $2 in $1"; return 1
}
# "VmRSS RssAnon RssFile" of PID in KiB.
mem() { awk '/^VmRSS/{r=$2}/^RssAnon/{a=$2}/^RssFile/{f=$2}END{print r+0, a+0, f+0}' "/proc/$1/status" 2>/dev/null || echo "0 0 0"; }
# Samples PID every 20 ms into FILE until PID exits or FILE.stop exists.
sample() { while kill -0 "$1" 2>/dev/null && [[ ! -e "$2.stop" ]]; do mem "$1" >> "$2"; sleep 0.02; done; }
# The sample with the highest VmRSS in FILE, as "rss anon file".
peak() { sort -n -k1 "$1" | tail -n1; }
# Drops the binary's pages from the page cache, so every measured process starts from the same
# state — the binary read from disk by the process itself — whatever wrote or read it before (a
# just-linked or copied file sits in the cache in large folios, which the kernel maps whole: the
# same process then shows ~5 MiB more file-backed RSS).
evict() { python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$BIN/fusion"; }
mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }
cells() { read -r r a f <<<"$1"; echo "$(mib "$r") MiB | $(mib "$a") MiB | $(mib "$f") MiB"; }

# --- mock provider ------------------------------------------------------------------------------
judge='{"consensus":["x"],"contradictions":[],"partial_coverage":[],"unique_insights":[],"blind_spots":[],"judge_notes":[]}'
python3 - "$work/script.json" "$judge" <<'PY'
import json, sys
path, judge = sys.argv[1], sys.argv[2]
fixed = lambda text, ms=0: {"reply": {"fixed": text}, "latency_ms": ms}
json.dump({"models": {"fixed": fixed("Hello from the mock."),
                      "p300": fixed("Fast member.", 300), "p500": fixed("Middle member.", 500),
                      "p700": fixed("Slow member.", 700), "judge": fixed(judge, 100),
                      "synth": fixed("The synthesized answer.", 100)}}, open(path, "w"))
PY
RUST_LOG=warn "$BIN/mock-provider" --script "$work/script.json" > "$work/mock.out" 2> "$work/mock.err" &
pids+=($!)
url=$(wait_line "$work/mock.out" MOCK_PROVIDER_URL)
{
  printf '[storage]\nurl = "sqlite://%s/fusion.db"\n\n[[providers]]\nname = "mock"\nkind = "openai"\nbase_url = "%s"\nmax_concurrency = 256\nretries = 0\n' "$work" "$url"
  for m in fixed p300 p500 p700 judge synth; do printf '\n[[models]]\nid = "%s"\nprovider = "mock"\n' "$m"; done
  printf '\n[councils.default]\npanel = [{ model = "p300" }, { model = "p500" }, { model = "p700" }]\njudge = { model = "judge" }\nsynthesizer = { model = "synth" }\n'
} > "$work/fusion.toml"

# --- 1. fusion serve ----------------------------------------------------------------------------
evict
"$BIN/fusion" serve --config "$work/fusion.toml" --listen 127.0.0.1:0 > "$work/serve.out" 2> "$work/serve.err" &
serve=$!; pids+=("$serve")
base=$(wait_line "$work/serve.out" FUSION_LISTEN_URL)
sleep 3
serve_idle=$(mem "$serve")
sample "$serve" "$work/serve.samples" &
sampler=$!
rps=$(BODY='{"model":"fixed","messages":[{"role":"user","content":"hi"}]}' \
  wrk -t2 -c10 -d"${LOAD_SECS}s" -s bench/gateway/post.lua "$base/v1/chat/completions" |
  awk '/Requests\/sec/{print $2}')
touch "$work/serve.samples.stop"; wait "$sampler" 2>/dev/null || true
serve_peak=$(peak "$work/serve.samples")
sleep "$SETTLE_SECS"
serve_after=$(mem "$serve")
kill -TERM "$serve"; wait "$serve" 2>/dev/null || true
log "serve: idle [$serve_idle] peak [$serve_peak] after [$serve_after] at $rps req/s"

# --- 2. fusion ask ------------------------------------------------------------------------------
ask_peak="0 0 0"
for i in $(seq 1 "$ASK_RUNS"); do
  evict
  "$BIN/fusion" ask --config "$work/fusion.toml" -q "Memory question $i" > /dev/null 2> "$work/ask.err" &
  ask=$!
  rm -f "$work/ask.samples"; sample "$ask" "$work/ask.samples"
  wait "$ask" || { log "fusion ask failed:"; cat "$work/ask.err" >&2; exit 1; }
  this=$(peak "$work/ask.samples")
  (( ${this%% *} > ${ask_peak%% *} )) && ask_peak=$this
done
log "ask: peak [$ask_peak]"

# --- 3. fusion mcp with two children ------------------------------------------------------------
printf '[storage]\nurl = "sqlite://%s/mcp.db"\n\n[[mcp.servers]]\nname = "time"\ncommand = "%s"\n\n[[mcp.servers]]\nname = "everything"\ncommand = "%s"\nargs = ["stdio"]\n' \
  "$work" "$TIME_SERVER" "$EVERYTHING" > "$work/mcp.toml"
mkfifo "$work/mcp.in"
evict
"$PY" bench/memory/mcp_client.py "$BIN/fusion" "$work/mcp.toml" "$MCP_CALLS" < "$work/mcp.in" > "$work/mcp.out" 2> "$work/mcp.err" &
client=$!; pids+=("$client")
exec 9> "$work/mcp.in"
for _ in $(seq 1 600); do grep -q MCP_READY "$work/mcp.out" && break; kill -0 "$client" 2>/dev/null || break; sleep 0.1; done
grep -q MCP_READY "$work/mcp.out" || { log "the MCP client did not get ready:"; cat "$work/mcp.err" >&2; exit 1; }
hub=$(pgrep -P "$client" -f "mcp --config $work/mcp.toml" | head -n1)
sleep 2
mcp_after=$(mem "$hub")
kids=$(pgrep -P "$hub" | wc -l)
echo >&9; exec 9>&-
wait "$client" 2>/dev/null || true
log "mcp: [$mcp_after] with $kids children ($(sed -n 's/^MCP_READY //p' "$work/mcp.out"))"

# --- report -------------------------------------------------------------------------------------
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null || rev="$rev+uncommitted"
report=$(cat <<MD
## Memory — $(date -u +%Y-%m-%d) at $rev

| process | RSS | anonymous | file-backed (the binary) |
|---|---|---|---|
| \`fusion serve\`, idle after start | $(cells "$serve_idle") |
| \`fusion serve\`, peak under unpaced load at 10 connections ($rps req/s) | $(cells "$serve_peak") |
| \`fusion serve\`, ${SETTLE_SECS} s after that load | $(cells "$serve_after") |
| \`fusion ask\` (three-member council), peak of $ASK_RUNS runs | $(cells "$ask_peak") |
| \`fusion mcp\` with two children ($kids running), after listing and $MCP_CALLS calls; children excluded | $(cells "$mcp_after") |

Method: bench/memory.sh; /proc/PID/status sampled every 20 ms (VmRSS = RssAnon + RssFile +
RssShmem). Release build of $rev, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg).
MD
)
echo "$report"
mkdir -p bench/results
echo "$report" > bench/results/memory-latest.md
