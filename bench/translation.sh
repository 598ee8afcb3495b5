#!/usr/bin/env bash
# Translation overhead benchmark (not a test): what answering on Anthropic's Messages wire
# (`/v1/messages`) or OpenAI's Responses wire (`/v1/responses`) costs over the chat wire
# (`/v1/chat/completions`, passed straight through) on the same model. Starts mock-provider
# (fixed reply) and `fusion serve` in front of it on 127.0.0.1, then measures each door with wrk
# on one keep-alive connection, back to back (bench/gateway/post.lua), the doors taking turns
# run by run for TR_ROUNDS rounds. The Responses body sets `store: false` (a stored response is a
# store write, measured separately as `responses+store`). Prints a Markdown table and writes it
# to bench/results/translation-latest.md.
# Usage: bench/translation.sh. Environment: TR_DURATION (seconds per run, 10), TR_ROUNDS (3),
# TR_NO_BUILD=1 (use the release binaries already built).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION="${TR_DURATION:-10}"
ROUNDS="${TR_ROUNDS:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fusion-target}"
BIN="$CARGO_TARGET_DIR/release"
log() { echo "[translation-bench] $*" >&2; }

command -v wrk >/dev/null || { apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }; }
[[ "${TR_NO_BUILD:-}" == 1 ]] || cargo build --release --locked -p fusion-cli -p fusion-mock-provider >&2

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

wait_line() { # FILE PID NAME: the value of the first NAME=... line FILE gets
  local file=$1 pid=$2 name=$3
  for _ in $(seq 1 300); do
    if grep -q "^$name=" "$file"; then sed -n "s/^$name=//p" "$file" | head -n1; return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  log "no $name from pid $pid"; cat "${file%.out}.err" >&2 || true; return 1
}

echo '{"models": {"fixed": {"reply": {"fixed": "Hello from the mock."}}}}' > "$work/script.json"
RUST_LOG=warn "$BIN/mock-provider" --script "$work/script.json" > "$work/mock.out" 2> "$work/mock.err" &
pids+=($!)
mock_url=$(wait_line "$work/mock.out" "${pids[0]}" MOCK_PROVIDER_URL)
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
FUSION_DATA_DIR="$work" "$BIN/fusion" serve --config "$work/fusion.toml" --listen 127.0.0.1:0 \
  > "$work/fusion.out" 2> "$work/fusion.err" &
pids+=($!)
url=$(wait_line "$work/fusion.out" "${pids[1]}" FUSION_LISTEN_URL)
url="${url%/}"; url="${url%/v1}"
log "fusion serve at $url, mock at $mock_url"

declare -A PATHS BODIES
PATHS[chat]=/v1/chat/completions
BODIES[chat]='{"model":"fixed","messages":[{"role":"user","content":"Say hello."}],"max_tokens":64}'
PATHS[messages]=/v1/messages
BODIES[messages]='{"model":"fixed","max_tokens":64,"messages":[{"role":"user","content":"Say hello."}]}'
PATHS[responses]=/v1/responses
BODIES[responses]='{"model":"fixed","input":"Say hello.","max_output_tokens":64,"store":false}'
PATHS[responses+store]=/v1/responses
BODIES[responses+store]='{"model":"fixed","input":"Say hello.","max_output_tokens":64}'
DOORS=(chat messages responses responses+store)

for door in "${DOORS[@]}"; do # each door answers 200 before it is measured
  code=$(curl -s -o "$work/check.json" -w '%{http_code}' -H 'content-type: application/json' \
    -H 'anthropic-version: 2023-06-01' -d "${BODIES[$door]}" "$url${PATHS[$door]}")
  [[ "$code" == 200 ]] || { log "$door answered $code: $(cat "$work/check.json")"; exit 1; }
done

: > "$work/results.txt"
for round in $(seq 1 "$ROUNDS"); do
  for door in "${DOORS[@]}"; do
    BODY="${BODIES[$door]}" wrk -t1 -c1 -d3s -s "$ROOT/bench/gateway/post.lua" "$url${PATHS[$door]}" >/dev/null 2>&1
    line=$(BODY="${BODIES[$door]}" wrk -t1 -c1 -d"${DURATION}s" -s "$ROOT/bench/gateway/post.lua" \
      "$url${PATHS[$door]}" 2>&1 | grep '^WRK_RESULT')
    echo "$door $round $line" >> "$work/results.txt"
    log "round $round $door: $line"
  done
done

rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null || rev="$rev+uncommitted"
python3 - "$work/results.txt" "$rev" "$ROUNDS" "$DURATION" > "$ROOT/bench/results/translation-latest.md" <<'PY'
import re, statistics, sys, time
path, rev, rounds, duration = sys.argv[1:5]
runs = {}
for line in open(path):
    door, rnd, rest = line.split(" ", 2)
    kv = dict(re.findall(r"(\w+)=([\d.]+)", rest))
    runs.setdefault(door, {})[int(rnd)] = kv
def ms(us): return f"{us / 1000:.3f} ms"
print("# Translation overhead — `bench/translation.sh`\n")
print(f"Run {time.strftime('%Y-%m-%d', time.gmtime())} · fusion {rev} · {rounds} rounds × {duration} s "
      "per door, one connection back to back, doors taking turns\n")
print("| door | requests | p50 | p99 | added p50 vs chat | added p99 vs chat | errors |")
print("|---|---|---|---|---|---|---|")
for door, by_round in runs.items():
    p50 = statistics.median(int(r["p50_us"]) for r in by_round.values())
    p99 = statistics.median(int(r["p99_us"]) for r in by_round.values())
    added50 = statistics.median(int(r["p50_us"]) - int(runs["chat"][n]["p50_us"]) for n, r in by_round.items())
    added99 = statistics.median(int(r["p99_us"]) - int(runs["chat"][n]["p99_us"]) for n, r in by_round.items())
    reqs = sum(int(r["requests"]) for r in by_round.values())
    errs = sum(int(r[k]) for r in by_round.values() for k in r if k.startswith("errors_"))
    added = "—" if door == "chat" else f"{added50 / 1000:+.3f} ms"
    added_tail = "—" if door == "chat" else f"{added99 / 1000:+.3f} ms"
    print(f"| {door} | {reqs:,} | {ms(p50)} | {ms(p99)} | {added} | {added_tail} | {errs} |")
print("\n\"Added\" is the median over rounds of (door − chat) within a round. The same mock model "
      "answers every door; chat is passed through, the others are translated to chat and back.")
PY
cat "$ROOT/bench/results/translation-latest.md"
