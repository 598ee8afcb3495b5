#!/usr/bin/env bash
# Quorum council benchmark (not a test). A three-member council on mock-provider where one
# member is 5 s slower than the other two (panel 500 / 500 / 5500 ms, judge 100 ms,
# synthesizer 100 ms), asked with `fusion ask` RUNS times without a quorum and RUNS times with
# `quorum = 2`, the two arms alternating. Reports the wall time of the whole process (spawn to
# exit) and the trace's total_ms and panel_ms, plus who was cut. That the cut member's upstream
# request is aborted is proven by crates/cli/tests/council_quorum.rs, not here (a `fusion ask`
# process closes its connections when it exits anyway). Usage: bench/council_quorum.sh [RUNS]
# (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fusion-target}"
cargo build --release --locked -p fusion-cli -p fusion-mock-provider >&2
BIN="$CARGO_TARGET_DIR/release"
work=$(mktemp -d)
# Whatever Fusion stores goes to the run dir, never to the user's data dir.
export FUSION_DATA_DIR="$work/fusion-data"
trap 'kill "$mock" 2>/dev/null; rm -rf "$work"' EXIT

judge='{"consensus":["x"],"contradictions":[],"partial_coverage":[],"unique_insights":[],"blind_spots":[],"judge_notes":[]}'
python3 - "$work/script.json" "$judge" <<'PY'
import json, sys
path, judge = sys.argv[1], sys.argv[2]
fixed = lambda text, ms: {"reply": {"fixed": text}, "latency_ms": ms}
json.dump({"models": {
    "fast-a": fixed("Answer from the first fast member.", 500),
    "fast-b": fixed("Answer from the second fast member.", 500),
    "slow": fixed("Answer from the member 5 s slower.", 5500),
    "judge": fixed(judge, 100),
    "synth": fixed("The synthesized answer.", 100),
}}, open(path, "w"))
PY

RUST_LOG=warn "$BIN/mock-provider" --script "$work/script.json" > "$work/mock.out" &
mock=$!
for _ in $(seq 1 100); do grep -q MOCK_PROVIDER_URL "$work/mock.out" && break; sleep 0.05; done
url=$(sed -n 's/^MOCK_PROVIDER_URL=//p' "$work/mock.out")

council() {
    printf '\n[councils.%s]\n%s\n' "$1" "$2"
    printf 'panel = [{ model = "fast-a" }, { model = "fast-b" }, { model = "slow" }]\n'
    printf 'judge = { model = "judge" }\nsynthesizer = { model = "synth" }\n'
}
cat > "$work/fusion.toml" <<TOML
[[providers]]
name = "mock"
kind = "openai"
base_url = "$url"
retries = 0
timeout = "60s"
$(for m in fast-a fast-b slow judge synth; do printf '\n[[models]]\nid = "%s"\nprovider = "mock"\n' "$m"; done)
$(council whole "")
$(council quorum2 "quorum = 2")
TOML

python3 - "$BIN/fusion" "$work/fusion.toml" "$RUNS" <<'PY'
import json, subprocess, sys, time
fusion, config, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
arms = {"whole": "no quorum (waits for all 3)", "quorum2": "quorum = 2"}
rows = {arm: [] for arm in arms}
for i in range(runs):
    for arm in arms:
        t0 = time.perf_counter()
        out = subprocess.run([fusion, "ask", "--config", config, "--council", arm, "--json", "-q",
                              f"Benchmark question {i}"], check=True, capture_output=True,
                             text=True).stdout
        wall = (time.perf_counter() - t0) * 1000
        r = json.loads(out)
        rows[arm].append({"wall": wall, "total": r["timings"]["total_ms"],
                          "panel": r["timings"]["panel_ms"],
                          "cut": ",".join(f'{c["model"]}:{c["reason"]}' for c in r.get("cut", [])) or "-"})

def stats(xs):
    xs = sorted(xs)
    return f"p50 {xs[len(xs)//2]:7.0f}  min {xs[0]:7.0f}  max {xs[-1]:7.0f} ms"

print(f"runs per arm: {runs}; panel 500/500/5500 ms, judge 100 ms, synthesizer 100 ms")
for arm, label in arms.items():
    rs = rows[arm]
    print(f"{label}")
    print(f"  fusion ask wall time (spawn to exit)  {stats([r['wall'] for r in rs])}")
    print(f"  trace total_ms                        {stats([r['total'] for r in rs])}")
    print(f"  trace panel_ms                        {stats([r['panel'] for r in rs])}")
    print(f"  cut                                   {sorted(set(r['cut'] for r in rs))}")
PY

