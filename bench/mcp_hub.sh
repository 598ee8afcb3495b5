#!/usr/bin/env bash
# Composite MCP node benchmark (not a test). Measures `fusion mcp` aggregating real
# @modelcontextprotocol/server-everything children over stdio, with the official `mcp` Python SDK
# as the client (bench/mcp_hub/measure.py):
#   1. `tools/call` echo latency (p50/p90/p99/max) directly to the child vs through Fusion with
#      that one child: SDK in legacy (initialize) mode for both, Fusion also in the SDK's default
#      (2026-07-28) mode and with one runtime worker (TOKIO_WORKER_THREADS=1), and a raw stdio
#      client (no SDK) for both; Fusion's RSS and CPU per call;
#   2. `tools/list` latency through Fusion with 10 children (e0..e9);
#   3. cold start to a complete `tools/list` with 10 children, against one child alone and 10
#      children started directly at once.
# Each measurement runs BENCH_ROUNDS times (targets alternate within a round); the report shows
# the median run. It waits (up to BENCH_QUIET_WAIT seconds) for the machine to be quiet: 1-minute
# load average below BENCH_QUIET_LOAD and no rustc/cargo running; if it never is, it measures
# anyway and says so in the report.
#
# Installs the peers when missing (scripts/install-peers.sh), builds fusion in release mode,
# prints a Markdown report and writes it to bench/results/mcp-hub-latest.md (raw figures go to
# ~/.cache/fusion-peers/mcp-hub-bench-last/). About 8 minutes once built and quiet.
# Usage: bench/mcp_hub.sh. Environment: BENCH_ROUNDS (3), BENCH_CALLS (echo calls per run, 1000),
# BENCH_WARMUP (100), BENCH_LISTS (tools/list calls per run, 500), BENCH_COLD_RUNS (cold starts per
# target per round, 5), BENCH_QUIET_WAIT (1200), BENCH_QUIET_LOAD (0.5).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fusion-target}"
FUSION="$CARGO_TARGET_DIR/release/fusion"
ROUNDS="${BENCH_ROUNDS:-3}"
QUIET_WAIT="${BENCH_QUIET_WAIT:-1200}"
QUIET_LOAD="${BENCH_QUIET_LOAD:-0.5}"
log() { echo "[mcp-hub-bench] $*" >&2; }

# --- peers and build ---------------------------------------------------------------------------
peers=$(scripts/install-peers.sh)
FUSION_PEERS_PYTHON=$(sed -n 's/^FUSION_PEERS_PYTHON=//p' <<<"$peers")
FUSION_MCP_EVERYTHING=$(sed -n 's/^FUSION_MCP_EVERYTHING=//p' <<<"$peers")
[[ -x "$FUSION_PEERS_PYTHON" && -x "$FUSION_MCP_EVERYTHING" ]] || { log "peers missing: $peers"; exit 1; }
cargo build --release --locked -p fusion-cli >&2

work=$(mktemp -d)
# Whatever Fusion stores goes to the run dir, never to the user's data dir.
export FUSION_DATA_DIR="$work/fusion-data"
monitor=
trap 'if [[ -n $monitor ]]; then kill "$monitor" 2> /dev/null || true; fi; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# --- configs: only [[mcp.servers]] (no providers or councils are needed for the hub) -----------
child() { printf '[[mcp.servers]]\nname = "%s"\ncommand = "%s"\nargs = ["stdio"]\n\n' "$1" "$FUSION_MCP_EVERYTHING"; }
child e1 > "$work/one.toml"
for i in $(seq 0 9); do child "e$i"; done > "$work/ten.toml"
"$FUSION" config check --config "$work/ten.toml" > /dev/null 2>&1 ||
  { "$FUSION" config check --config "$work/ten.toml" >&2; exit 1; }

# --- wait for a quiet machine -------------------------------------------------------------------
load1() { cut -d' ' -f1 /proc/loadavg; }
building() { pgrep -x rustc > /dev/null || pgrep -x cargo > /dev/null || pgrep -x cargo-nextest > /dev/null; }
busy() { # prints why the machine is busy, or nothing
  local l; l=$(load1)
  if awk -v l="$l" -v q="$QUIET_LOAD" 'BEGIN { exit !(l >= q) }'; then echo "load average $l"; return; fi
  if building; then echo "rustc/cargo running"; fi
}
under_load=false
waited=0
while reason=$(busy) && [[ -n "$reason" ]]; do
  if (( waited >= QUIET_WAIT )); then
    log "still busy after ${waited} s ($reason): measuring anyway, the report says so"
    under_load=true
    break
  fi
  log "machine busy ($reason); waiting 60 s"
  sleep 60
  waited=$((waited + 60))
done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# --- meta ---------------------------------------------------------------------------------------
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null || rev="$rev+uncommitted"
everything_dir=$(dirname "$(dirname "$(dirname "$FUSION_MCP_EVERYTHING")")")
"$FUSION_PEERS_PYTHON" - "$work/spec.json" "$FUSION" "$FUSION_MCP_EVERYTHING" "$work" "$ROUNDS" <<'PY'
import json, os, sys
out, fusion, everything, work, rounds = sys.argv[1:6]
json.dump({"fusion": fusion, "everything": everything,
           "configs": {"one": f"{work}/one.toml", "ten": f"{work}/ten.toml"},
           "rounds": int(rounds), "calls": int(os.environ.get("BENCH_CALLS", "1000")),
           "warmup": int(os.environ.get("BENCH_WARMUP", "100")),
           "lists": int(os.environ.get("BENCH_LISTS", "500")),
           "cold_runs": int(os.environ.get("BENCH_COLD_RUNS", "5"))}, open(out, "w"))
PY

log "measuring (fusion $rev, $ROUNDS rounds, load $load_before)"
# Meanwhile, note every 2 s whether a build or test run started (the report says so).
( while :; do if building; then date +%s; fi; sleep 2; done ) > "$work/builds.txt" 2> /dev/null &
monitor=$!
"$FUSION_PEERS_PYTHON" "$ROOT/bench/mcp_hub/measure.py" run "$work/spec.json" "$work"
kill "$monitor" 2> /dev/null || true
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
builds_seen=$(wc -l < "$work/builds.txt")
if (( builds_seen > 0 )); then log "rustc/cargo ran during $((builds_seen * 2)) s of the measurement"; fi

"$FUSION_PEERS_PYTHON" - "$work/meta.json" "$work/spec.json" "$rev" "$everything_dir" "$load_before" \
  "$load_after" "$under_load" "$builds_seen" <<'PY'
import importlib.metadata, json, os, platform, re, subprocess, sys, time
out, spec, rev, everything_dir, before, after, under_load, builds_seen = sys.argv[1:9]
spec = json.load(open(spec))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
osr = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', open("/etc/os-release").read(), re.M))
pkg = f"{everything_dir}/node_modules/@modelcontextprotocol/server-everything/package.json"
json.dump({"date": time.strftime("%Y-%m-%d", time.gmtime()), "fusion_rev": rev,
           "python_version": platform.python_version(), "mcp_version": importlib.metadata.version("mcp"),
           "everything_version": json.load(open(pkg))["version"] if os.path.exists(pkg) else "?",
           "node_version": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip(),
           "cpus": os.cpu_count(), "cpu_model": cpu, "mem_gib": round(mem / 2**20),
           "os": osr.get("PRETTY_NAME", "?"), "kernel": platform.release(),
           "load_before": before, "load_after": after, "under_load": under_load == "true",
           "build_seconds_during_run": 2 * int(builds_seen),
           **{k: spec[k] for k in ("rounds", "calls", "warmup", "lists", "cold_runs")}}, open(out, "w"))
PY

# Raw figures, outside the repo: `measure.py report DIR OUT.md` re-renders them.
last="$HOME/.cache/fusion-peers/mcp-hub-bench-last"
mkdir -p "$last" bench/results
cp "$work/results.json" "$work/meta.json" "$last/"
"$FUSION_PEERS_PYTHON" "$ROOT/bench/mcp_hub/measure.py" report "$work" bench/results/mcp-hub-latest.md
