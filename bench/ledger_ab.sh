#!/usr/bin/env bash
# A/B of the passthrough hot path (not a test): `fusion serve` built from a baseline commit
# (default bf356d2, the landed gateway before the store existed) against the working tree, both
# release builds, in front of the same mock-provider, measured together by
# bench/gateway/measure.py (targets alternate run by run: 1 connection, unpaced at 10
# connections, paced at 1,000 req/s, paced at 50 req/s, then streams). The working tree's
# server writes every call to its usage ledger (a SQLite store in the run's temp dir). Prints a
# Markdown comparison (medians over rounds, and each round) and writes it to
# bench/results/ledger-ab-latest.md.
#
# The baseline is checked out as a detached worktree under ~/.cache/fusion-bench/base-src and
# built in its own target dir there (first time about 10 minutes on 2 cores). Everything listens
# on 127.0.0.1 and is stopped on exit. Waits (up to AB_QUIET_WAIT seconds, 900) for a quiet
# machine: 1-minute load below 0.5 and no rustc running.
# Usage: bench/ledger_ab.sh [BASE_REV]. Environment: GW_ROUNDS (3), GW_DURATION (10), GW_RATE
# (1000) as for bench/gateway.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BASE_REV="${1:-bf356d2}"
ROUNDS="${GW_ROUNDS:-3}"
CACHE="$HOME/.cache/fusion-bench"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fusion-target}"
log() { echo "[ledger-ab] $*" >&2; }

if ! command -v wrk >/dev/null; then
  log "installing wrk"
  apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }
fi

# --- builds -------------------------------------------------------------------------------------
mkdir -p "$CACHE"
if [[ ! -d "$CACHE/base-src" ]]; then
  git worktree add --detach "$CACHE/base-src" "$BASE_REV" >&2
else
  git -C "$CACHE/base-src" checkout --quiet --detach "$BASE_REV"
fi
base_rev=$(git -C "$CACHE/base-src" rev-parse --short HEAD)
log "building the baseline $base_rev (release)"
(cd "$CACHE/base-src" && CARGO_TARGET_DIR="$CACHE/base-target" cargo build --release --locked -p fusion-cli >&2)
log "building the working tree (release)"
cargo build --release --locked -p fusion-cli -p fusion-mock-provider >&2
BIN="$CARGO_TARGET_DIR/release"
BASE_BIN="$CACHE/base-target/release/fusion"
rev=$(git rev-parse --short HEAD)
git diff --quiet HEAD -- crates Cargo.toml Cargo.lock || rev="$rev+uncommitted"

# --- quiet machine ------------------------------------------------------------------------------
waited=0
while (( waited < ${AB_QUIET_WAIT:-900} )); do
  if awk '{exit !($1 < 0.5)}' /proc/loadavg && ! pgrep -x rustc >/dev/null; then break; fi
  sleep 10; waited=$((waited + 10))
done
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log "load before measuring: $load_before (waited ${waited}s)"

work=$(mktemp -d)
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

wait_line() { # FILE PID NAME: waits for NAME=VALUE on FILE, prints VALUE
  local file=$1 pid=$2 name=$3
  for _ in $(seq 1 300); do
    if grep -q "^$name=" "$file"; then sed -n "s/^$name=//p" "$file" | head -n1; return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  log "no $name from pid $pid; its stderr:"; cat "${file%.out}.err" >&2 || true
  return 1
}

echo '{"models": {"fixed": {"reply": {"fixed": "Hello from the mock."}}}}' > "$work/script.json"
RUST_LOG=warn "$BIN/mock-provider" --script "$work/script.json" > "$work/mock.out" 2> "$work/mock.err" &
mock=$!; pids+=("$mock")
mock_url=$(wait_line "$work/mock.out" "$mock" MOCK_PROVIDER_URL)

provider_toml() {
  cat <<TOML
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
}
provider_toml > "$work/base.toml"
{ printf '[storage]\nurl = "sqlite://%s/fusion.db"\n\n' "$work"; provider_toml; } > "$work/new.toml"

start_fusion() { # NAME BINARY CONFIG: prints the base URL
  local name=$1 bin=$2 config=$3
  # Each server keeps its store (if its version has one) in the run dir, never the user's.
  FUSION_DATA_DIR="$work/$name-data" "$bin" serve --config "$config" --listen 127.0.0.1:0 \
    > "$work/$name.out" 2> "$work/$name.err" &
  local pid=$!; pids+=("$pid"); echo "$pid" > "$work/$name.pid"
  local url; url=$(wait_line "$work/$name.out" "$pid" FUSION_LISTEN_URL)
  url="${url%/}"; echo "${url%/v1}"
}
base_url=$(start_fusion baseline "$BASE_BIN" "$work/base.toml")
new_url=$(start_fusion ledger "$BIN/fusion" "$work/new.toml")
curl -sf "$base_url/health" > /dev/null && curl -sf "$new_url/health" > /dev/null
sleep 1

cat > "$work/targets.json" <<JSON
{"mock_pid": $mock, "targets": [
  {"name": "direct", "url": "$mock_url", "model": "fixed", "pid": $mock, "token": ""},
  {"name": "baseline", "url": "$base_url/v1", "model": "fixed", "pid": $(cat "$work/baseline.pid"), "token": ""},
  {"name": "ledger", "url": "$new_url/v1", "model": "fixed", "pid": $(cat "$work/ledger.pid"), "token": ""}
]}
JSON
log "measuring direct, baseline $base_rev and ledger $rev, $ROUNDS rounds"
python3 "$ROOT/bench/gateway/measure.py" run "$work" "$ROUNDS" "$work/targets.json"
rows=$("$BIN/fusion" usage --config "$work/new.toml" | head -n 1)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

mkdir -p bench/results
python3 - "$work" "$base_rev" "$rev" "$rows" "$load_before" "$load_after" <<'PY' | tee bench/results/ledger-ab-latest.md
import json, statistics, sys, time
work, base_rev, rev, rows, load_before, load_after = sys.argv[1:7]
r = {n: json.load(open(f"{work}/{n}.json")) for n in ("direct", "baseline", "ledger")}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
def runs(n, key, field):
    return [w[field] for w in r[n]["rounds"].get(key, [])]
def fmt(us): return f"{us / 1000:.3f} ms"
print(f"# Ledger A/B — {time.strftime('%Y-%m-%d', time.gmtime())}\n")
print(f"baseline {base_rev} (no store) vs {rev} (usage ledger on, SQLite); {cpu}; "
      f"load {load_before} before, {load_after} after; ledger: {rows}\n")
print("| metric | baseline | ledger | change | rounds (baseline / ledger) |")
print("|---|---|---|---|---|")
for key, label in (("c1", "1 connection"), ("rate", "1,000 req/s"), ("low_rate", "50 req/s")):
    for field in ("p50_us", "p99_us"):
        b, l = runs("baseline", key, field), runs("ledger", key, field)
        if not b or not l:
            continue
        mb, ml = statistics.median(b), statistics.median(l)
        print(f"| {label}: {field[:3]} | {fmt(mb)} | {fmt(ml)} | {(ml - mb) / 1000:+.3f} ms | "
              f"{', '.join(f'{x / 1000:.3f}' for x in b)} / {', '.join(f'{x / 1000:.3f}' for x in l)} |")
b, l = runs("baseline", "max", "rps"), runs("ledger", "max", "rps")
mb, ml = statistics.median(b), statistics.median(l)
print(f"| max req/s, 10 connections | {mb:,.0f} | {ml:,.0f} | {100 * (ml - mb) / mb:+.1f}% | "
      f"{', '.join(f'{x:,.0f}' for x in b)} / {', '.join(f'{x:,.0f}' for x in l)} |")
print(f"| CPU per request at max | {r['baseline']['cpu_us_per_req']:.1f} µs | "
      f"{r['ledger']['cpu_us_per_req']:.1f} µs | | |")
d50, d99 = statistics.median(runs("direct", "rate", "p50_us")), statistics.median(runs("direct", "rate", "p99_us"))
print(f"| direct to the mock, 1,000 req/s: p50 / p99 | {fmt(d50)} / {fmt(d99)} | | | |")
PY
