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
# Whatever Fusion stores goes to the run dir, never to the user's data dir.
export FUSION_DATA_DIR="$work/fusion-data"
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

RUST_LOG=warn "$BIN/mock-provider" --script "$work/script.json" > "$work/mock.out" &
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

python3 - "$BIN/fusion" "$work/fusion.toml" "$RUNS" "$url" <<'PY'
import http.client, json, resource, subprocess, sys, time, urllib.parse
fusion, config, runs, url = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
rss_file = config + ".rss"

# Baseline: the same critical path called directly (700 ms member, then judge, then
# synthesizer) on one keep-alive connection: what the mock and loopback HTTP cost by themselves.
u = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(u.hostname, u.port)
def call(model):
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "q"}]})
    conn.request("POST", u.path + "/chat/completions", body, {"content-type": "application/json"})
    conn.getresponse().read()
baseline = []
for _ in range(max(5, runs // 2)):
    t0 = time.perf_counter()
    for model in ("p700", "judge", "synth"):
        call(model)
    baseline.append((time.perf_counter() - t0) * 1000 - 900)
baseline.sort()
CRIT = 900  # ms: slowest member 700 + judge 100 + synthesizer 100
rows = []
for i in range(runs):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # /usr/bin/time reports the peak RSS of fusion alone (rusage of Python's children would
    # include the forked Python image before exec).
    out = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file,
                          fusion, "ask", "--config", config, "--json", "-q", f"Benchmark question {i}"],
                         check=True, capture_output=True, text=True).stdout
    wall = (time.perf_counter() - t0) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = json.loads(out)
    t = r["timings"]
    slowest = max(x["latency_ms"] for x in r["responses"])
    rows.append({
        "council": t["total_ms"] - CRIT,
        "process": wall - CRIT,
        # time between phases and around the calls, independent of the mock's own latency
        "orchestration": t["total_ms"] - (t["panel_ms"] + t["judge_ms"] + t["synthesis_ms"]),
        "panel_wait": t["panel_ms"] - slowest,
        "cpu": ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1000,
        "rss": int(open(rss_file).read().split()[-1]) / 1024,
    })

def pct(key, p):
    xs = sorted(row[key] for row in rows)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]

print(f"runs: {runs}; critical path {CRIT} ms (slowest member 700 + judge 100 + synthesizer 100)")
print(f"{'baseline: same 3 calls direct to the mock - 900':<52} p50 {baseline[len(baseline)//2]:6.1f} ms  max {baseline[-1]:6.1f} ms")
for key, label in [("council", "council overhead (timings.total_ms - 900)"),
                   ("process", "process overhead (spawn to exit - 900)"),
                   ("orchestration", "between phases (total - panel - judge - synthesis)"),
                   ("panel_wait", "panel end after slowest member answered")]:
    print(f"{label:<52} p50 {pct(key,50):6.1f} ms  p95 {pct(key,95):6.1f} ms  max {pct(key,100):6.1f} ms")
print(f"{'CPU time per run (user+sys, whole process)':<52} p50 {pct('cpu',50):6.1f} ms  p95 {pct('cpu',95):6.1f} ms  max {pct('cpu',100):6.1f} ms")
print(f"{'peak RSS of the fusion process':<52} p50 {pct('rss',50):6.1f} MiB p95 {pct('rss',95):6.1f} MiB max {pct('rss',100):6.1f} MiB")
PY
