#!/usr/bin/env bash
# Code-search benchmark (not a test). Copies a fixed subset of the cargo registry's unpacked
# sources (~/.cargo/registry/src: whole crates in name order until at least BENCH_FILES files,
# mtimes kept) into a temp dir, then:
#   1. in-process, through the library (crates/codesearch/examples/code_search_bench.rs): a full
#      index from scratch (files/s, chunks, index size), a re-run on the unchanged tree, and
#      search latency p50/p90/p99/max over 64 identifier queries x BENCH_SEARCH_ROUNDS, after one
#      warm-up pass (limit 10, snippets included). BENCH_ROUNDS rounds, each into a fresh index
#      directory; the report shows every round and the median;
#   2. the CLI, as a user runs it: one `fusion index` of the same tree, then BENCH_CLI_RUNS
#      `fusion search --json` invocations (wall time per process, start-up included).
# It waits (up to BENCH_QUIET_WAIT seconds) for a quiet machine: 1-minute load average below
# BENCH_QUIET_LOAD and no rustc/cargo running; if it never is, it measures anyway and says so.
# Builds release binaries, prints a Markdown report and writes it to
# bench/results/code-search-latest.md. About 2 minutes once built and quiet.
# Usage: bench/code_search.sh. Environment: BENCH_FILES (11500), BENCH_ROUNDS (3),
# BENCH_SEARCH_ROUNDS (20), BENCH_CLI_RUNS (20), BENCH_QUIET_WAIT (1200), BENCH_QUIET_LOAD (0.5).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fusion-target}"
FUSION="$CARGO_TARGET_DIR/release/fusion"
BENCH="$CARGO_TARGET_DIR/release/examples/code_search_bench"
FILES="${BENCH_FILES:-11500}"
ROUNDS="${BENCH_ROUNDS:-3}"
SEARCH_ROUNDS="${BENCH_SEARCH_ROUNDS:-20}"
CLI_RUNS="${BENCH_CLI_RUNS:-20}"
QUIET_WAIT="${BENCH_QUIET_WAIT:-1200}"
QUIET_LOAD="${BENCH_QUIET_LOAD:-0.5}"
log() { echo "[code-search-bench] $*" >&2; }

cargo build --release --locked -p fusion-cli >&2
cargo build --release --locked -p fusion-codesearch --example code_search_bench >&2

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# --- corpus: whole crates, in name order, until FILES files ------------------------------------
registry=$(ls -d "$HOME"/.cargo/registry/src/*/ 2>/dev/null | head -n 1)
[[ -n "$registry" ]] || { log "no ~/.cargo/registry/src: build the workspace once first"; exit 1; }
corpus="$work/corpus"
mkdir -p "$corpus"
count=0
crates=0
for dir in $(ls "$registry" | sort); do
  cp -rp "$registry/$dir" "$corpus/"
  count=$((count + $(find "$registry/$dir" -type f | wc -l)))
  crates=$((crates + 1))
  if (( count >= FILES )); then break; fi
done
bytes=$(du -sb "$corpus" | cut -f1)
log "corpus: $crates crates, $count files, $((bytes / 1048576)) MiB (page cache warm: just copied)"

# --- wait for a quiet machine -------------------------------------------------------------------
load1() { cut -d' ' -f1 /proc/loadavg; }
building() { pgrep -x rustc > /dev/null || pgrep -x cargo > /dev/null || pgrep -x cargo-nextest > /dev/null; }
busy() {
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

# --- 1. in-process ------------------------------------------------------------------------------
for round in $(seq 1 "$ROUNDS"); do
  log "round $round/$ROUNDS: index from scratch, no-op re-index, $SEARCH_ROUNDS x 64 searches"
  "$BENCH" "$corpus" "$work/data-$round" "$SEARCH_ROUNDS" > "$work/round-$round.json"
  rm -rf "$work/data-$round"
done

# --- 2. the CLI ---------------------------------------------------------------------------------
export FUSION_DATA_DIR="$work/cli-data"
start=$(date +%s%N)
"$FUSION" index "$corpus" --quiet --json > "$work/cli-index.json"
cli_index_ns=$(( $(date +%s%N) - start ))
: > "$work/cli-search.txt"
for i in $(seq 1 "$CLI_RUNS"); do
  start=$(date +%s%N)
  "$FUSION" search "HashMap with_capacity" --root "$corpus" --json > /dev/null
  echo $(( $(date +%s%N) - start )) >> "$work/cli-search.txt"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report -------------------------------------------------------------------------------------
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null || rev="$rev+uncommitted"
mkdir -p bench/results
python3 - "$work" "$ROUNDS" "$crates" "$count" "$bytes" "$cli_index_ns" "$rev" "$load_before" \
  "$load_after" "$under_load" > bench/results/code-search-latest.md <<'PY'
import json, os, platform, re, statistics, sys, time
work, rounds, crates, count, size, cli_ns, rev, before, after, under_load = sys.argv[1:11]
runs = [json.load(open(f"{work}/round-{r}.json")) for r in range(1, int(rounds) + 1)]
cli = json.load(open(f"{work}/cli-index.json"))
cli_search = sorted(int(l) / 1e6 for l in open(f"{work}/cli-search.txt"))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
osr = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', open("/etc/os-release").read(), re.M))
med = lambda xs: statistics.median(xs)
print(f"# Code search benchmark — {time.strftime('%Y-%m-%d', time.gmtime())}, fusion {rev}\n")
print(f"Machine: {os.cpu_count()} vCPU {cpu}, {round(mem / 2**20)} GiB, {osr.get('PRETTY_NAME', '?')}, "
      f"kernel {platform.release()}. Load before {before}, after {after}"
      + (" — **the machine never got quiet: figures measured under load**" if under_load == "true" else "") + ".\n")
print(f"Corpus: {crates} crates of ~/.cargo/registry/src in name order, {count} files, "
      f"{int(size) / 2**20:.0f} MiB on disk; the walk sees {runs[0]['index']['files_seen']} "
      f"(hidden files left out), skips {runs[0]['index']['skipped']}.\n")
print("| round | index s | files/s | chunks | index MiB | no-op re-index s | search p50 ms | p90 | p99 | max |")
print("|---|---|---|---|---|---|---|---|---|---|")
for i, r in enumerate(runs, 1):
    x, s, n = r["index"], r["search"], r["noop_reindex"]
    print(f"| {i} | {x['seconds']:.2f} | {x['files_per_second']:.0f} | {x['chunks']} | "
          f"{x['index_bytes'] / 2**20:.1f} | {n['seconds']:.3f} | {s['p50_ms']:.3f} | {s['p90_ms']:.3f} | "
          f"{s['p99_ms']:.3f} | {s['max_ms']:.3f} |")
x = [r["index"] for r in runs]
s = [r["search"] for r in runs]
print(f"| **median** | **{med([v['seconds'] for v in x]):.2f}** | **{med([v['files_per_second'] for v in x]):.0f}** | | "
      f"{med([v['index_bytes'] for v in x]) / 2**20:.1f} | {med([r['noop_reindex']['seconds'] for r in runs]):.3f} | "
      f"**{med([v['p50_ms'] for v in s]):.3f}** | {med([v['p90_ms'] for v in s]):.3f} | "
      f"**{med([v['p99_ms'] for v in s]):.3f}** | {med([v['max_ms'] for v in s]):.3f} |\n")
print(f"Searches: {s[0]['queries']} identifier queries x {s[0]['rounds']} rounds = {s[0]['samples']} per round "
      f"({s[0]['queries_with_hits']} queries with hits), limit 10, snippets included; index opened once "
      f"({med([v['open_ms'] for v in s]):.2f} ms).\n")
print(f"CLI: `fusion index` of the same tree {int(cli_ns) / 1e9:.2f} s wall ({cli['files_seen']} files, "
      f"{cli['index_bytes'] / 2**20:.1f} MiB); `fusion search --json` (2 terms) {len(cli_search)} runs: "
      f"median {med(cli_search):.1f} ms, max {cli_search[-1]:.1f} ms wall per process, start-up included.")
PY
cat bench/results/code-search-latest.md
