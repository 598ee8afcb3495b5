#!/usr/bin/env bash
# Council overhead benchmark (not a test). Runs `fusion ask` on mock-provider with panel
# latencies 300/500/700 ms, judge 100 ms and synthesizer 100 ms, so the critical path is
# 700 + 100 + 100 = 900 ms. Reports, over N runs, the council's own wall time minus that
# critical path (from the trace's timings.total_ms and, measured outside, the whole process),
# plus process CPU time and peak RSS. Usage: bench/council.sh [RUNS] (default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-30}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fusion-target}"
cargo build --release --locked -p fusion-cli -p fusion-mock-provider >&2
BIN="$CARGO_TARGET_DIR/release"
work=$(mktemp -d)
trap 'kill "$mock" 2>/dev/null; rm -rf "$work"' EXIT

judge='{"consensus":["x"],"contradictions":[],"partial_coverage":[],"unique_insights":[],"blind_spots":[],"judge_notes":[]}'
python3 - "$work/script.json" "$judge" <<'PY'
import json, sys
path, judge = sys.argv[1], sys.argv[2]
fixed = lambda text, ms: {"reply": {"fixed": text}, "latency_ms": ms}
json.dump({"models": {
    "p300": fixed("Answer from the fast member.", 300),
    "p500": fixed("Answer from the middle member.", 500),
    "p700": fixed("Answer from the slow member.", 700),
    "judge": fixed(judge, 100),
    "synth": fixed("The synthesized answer.", 100),
}}, open(path, "w"))
PY

"$BIN/mock-provider" --script "$work/script.json" > "$work/mock.out" &
mock=$!
for _ in $(seq 1 100); do grep -q MOCK_PROVIDER_URL "$work/mock.out" && break; sleep 0.05; done
url=$(sed -n 's/^MOCK_PROVIDER_URL=//p' "$work/mock.out")

cat > "$work/fusion.toml" <<TOML
[[providers]]
name = "mock"
kind = "openai"
base_url = "$url"
retries = 0
$(for m in p300 p500 p700 judge synth; do printf '\n[[models]]\nid = "%s"\nprovider = "mock"\n' "$m"; done)

[councils.default]
panel = [{ model = "p300" }, { model = "p500" }, { model = "p700" }]
judge = { model = "judge" }
synthesizer = { model = "synth" }
TOML

: > "$work/results.tsv"
for i in $(seq 1 "$RUNS"); do
  start=$(date +%s%N)
  /usr/bin/time -f '%U %S %M' -o "$work/time.txt" \
    "$BIN/fusion" ask --config "$work/fusion.toml" --json -q "Benchmark question $i" > "$work/out.json"
  end=$(date +%s%N)
  total_ms=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["timings"]["total_ms"])' "$work/out.json")
  printf '%s\t%s\t%s\n' "$total_ms" "$(( (end - start) / 1000000 ))" "$(cat "$work/time.txt")" >> "$work/results.tsv"
done

python3 - "$work/results.tsv" "$RUNS" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
crit = 900
council = sorted(int(r[0]) - crit for r in rows)
process = sorted(int(r[1]) - crit for r in rows)
cpu = sorted((float(r[2]) + float(r[3])) * 1000 for r in rows)
rss = sorted(int(r[4]) / 1024 for r in rows)
def pct(xs, p): return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
print(f"runs: {sys.argv[2]}; critical path {crit} ms (700 panel + 100 judge + 100 synthesizer)")
print(f"council overhead (timings.total_ms - {crit}): p50 {pct(council,50)} ms, p95 {pct(council,95)} ms, max {council[-1]} ms")
print(f"process overhead (exec to exit - {crit}):      p50 {pct(process,50)} ms, p95 {pct(process,95)} ms, max {process[-1]} ms")
print(f"CPU time (user+sys) per run: p50 {pct(cpu,50):.0f} ms, max {cpu[-1]:.0f} ms")
print(f"peak RSS: p50 {pct(rss,50):.1f} MiB, max {rss[-1]:.1f} MiB")
PY
