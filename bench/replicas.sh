#!/usr/bin/env bash
# Several machines on one PostgreSQL (not a test): two `fusion serve` replicas (release) on one
# PostgreSQL database (scripts/postgres.sh) behind fusion-balancer (crates/test-support, a
# round-robin TCP balancer), mock-provider upstream, all on 127.0.0.1. bench/replicas/measure.py
# measures completions per second on one replica alone and through the balancer on both (wrk,
# bench/gateway/post.lua), the ledger rows added beside the answers wrk counted, then sends a
# burst of task submissions through the balancer with wrk still running and kills one replica
# with SIGKILL: tasks submitted / completed / re-run / answered twice, how long the other took to
# finish the tasks the killed one was running, completions that failed with it. Prints a Markdown
# report and writes it to bench/results/replicas-DATE-REV.md and replicas-latest.md.
# Usage: bench/replicas.sh. Environment: RB_DURATION (seconds per wrk run, 10), RB_CONNECTIONS
# (10), RB_TASKS (400), RB_SUBMITTERS (8), RB_KILL_AFTER (3), RB_TASK_LATENCY_MS (how long the
# tasks' model takes, 200), RB_LEASE ("2s"), RB_NO_BUILD=1 (use the release binaries as they are).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fusion-target}"
BIN="$CARGO_TARGET_DIR/release"
LATENCY="${RB_TASK_LATENCY_MS:-200}"; LEASE="${RB_LEASE:-2s}"
log() { echo "[replicas-bench] $*" >&2; }

command -v wrk >/dev/null || { log "wrk is missing (apt-get install wrk)"; exit 2; }
command -v psql >/dev/null || { log "psql is missing (scripts/postgres.sh installs it)"; exit 2; }
if [[ "${RB_NO_BUILD:-}" != 1 ]]; then
  cargo build --release --locked -p fusion-cli -p fusion-mock-provider -p fusion-test-support --bins >&2
fi
for b in fusion mock-provider fusion-balancer; do
  [[ -x "$BIN/$b" ]] || { log "$BIN/$b is missing: run without RB_NO_BUILD"; exit 2; }
done

work=$(mktemp -d)
# Whatever Fusion stores goes to the run dir, never to the user's data dir.
export FUSION_DATA_DIR="$work/fusion-data"
pids=()
db=""
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  [[ -n "$db" ]] && psql "$FUSION_TEST_POSTGRES_URL" -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >&2 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_line() { # FILE PID NAME
  for _ in $(seq 1 300); do
    if grep -q "^$3=" "$1"; then sed -n "s/^$3=//p" "$1" | head -n1; return 0; fi
    kill -0 "$2" 2>/dev/null || break; sleep 0.1
  done
  log "no $3 from pid $2"; cat "${1%.out}.err" >&2 || true; return 1
}

# --- PostgreSQL, a database of this run's own ------------------------------------------------
while IFS='=' read -r name value; do export "$name=$value"; done < <(scripts/postgres.sh)
db="fusion_replicas_$$"
psql "$FUSION_TEST_POSTGRES_URL" -q -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >&2
db_url="${FUSION_TEST_POSTGRES_URL%/*}/$db"

# --- mock provider: `fixed` for the completions, `slow` for the tasks ---------------------------
cat > "$work/script.json" <<JSON
{"models": {"fixed": {"reply": {"fixed": "Hello from the mock."}},
            "slow": {"reply": {"fixed": "done"}, "latency_ms": $LATENCY}}}
JSON
RUST_LOG=warn "$BIN/mock-provider" --script "$work/script.json" > "$work/mock.out" 2> "$work/mock.err" &
mock=$!; pids+=("$mock")
mock_url=$(wait_line "$work/mock.out" "$mock" MOCK_PROVIDER_URL)

# --- two replicas of one config ---------------------------------------------------------------
cat > "$work/fusion.toml" <<TOML
[storage]
url = "$db_url"

[router]
discover = false

[tasks]
remote_slots = 16
lease = "$LEASE"
on_interrupt = "requeue"
poll_interval = "200ms"

[[providers]]
name = "mock"
kind = "openai"
base_url = "$mock_url"
tier = "free"
max_concurrency = 256
retries = 0

[[models]]
id = "fixed"
provider = "mock"

[[models]]
id = "slow"
provider = "mock"
TOML
start_replica() { # NAME -> sets url_NAME, pid_NAME
  mkdir -p "$work/$1"
  FUSION_DATA_DIR="$work/$1/data" "$BIN/fusion" serve --config "$work/fusion.toml" --listen 127.0.0.1:0 \
    > "$work/$1.out" 2> "$work/$1.err" &
  local pid=$!; pids+=("$pid")
  printf -v "pid_$1" '%s' "$pid"
  printf -v "url_$1" '%s' "$(wait_line "$work/$1.out" "$pid" FUSION_LISTEN_URL)"
}
start_replica a
start_replica b
"$BIN/fusion-balancer" "${url_a#http://}" "${url_b#http://}" > "$work/balancer.out" 2> "$work/balancer.err" &
balancer=$!; pids+=("$balancer")
balancer_url=$(wait_line "$work/balancer.out" "$balancer" BALANCER_URL)
log "replicas a=$url_a (pid $pid_a) b=$url_b, balancer $balancer_url, PostgreSQL database $db"

python3 "$ROOT/bench/replicas/measure.py" "$balancer_url" "$url_a" "$pid_a" "$url_b" "$db_url" "$work/result.json"
kill -TERM "$balancer"; wait "$balancer" 2>/dev/null || true
stats=$(grep '^BALANCER_STATS' "$work/balancer.out" || true)

# --- report -----------------------------------------------------------------------------------
mkdir -p bench/results
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null || rev="$rev+uncommitted"
report="bench/results/replicas-$(date -u +%Y-%m-%d)-$rev.md"
python3 - "$work/result.json" "$rev" "$LATENCY" "$LEASE" "$stats" <<'PY' | tee "$report"
import json, sys, time
r = json.load(open(sys.argv[1])); rev, latency, lease, stats = sys.argv[2:6]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
cores = sum(1 for l in open("/proc/cpuinfo") if l.startswith("processor"))
print(f"# Two replicas on one PostgreSQL — {time.strftime('%Y-%m-%d', time.gmtime())}, commit {rev}\n")
print(f"{cores} cores ({cpu}); everything on 127.0.0.1: PostgreSQL, mock-provider, two release "
      f"`fusion serve`, fusion-balancer, wrk -t2 -c{r['connections']} for {r['duration_s']} s per run; "
      f"tasks: a model answering in {latency} ms, lease {lease}, on_interrupt = requeue.\n")
print("| completions | req/s | errors |\n|---|---|---|")
print(f"| one replica alone (direct) | {r['single_rps']:,.0f} | {r['single_errors']} |")
print(f"| two replicas through the balancer | {r['balanced_rps']:,.0f} | {r['balanced_errors']} |")
print(f"| through the balancer while a replica is killed | {r['kill_phase_rps']:,.0f} | {r['kill_phase_errors']} |")
print()
print(f"Ledger: {r['balanced_ledger_rows']:,} http rows written for {r['balanced_wrk_requests']:,} answers "
      "wrk counted in the balanced run (wrk does not count the answers still in flight when it stops).\n")
rec = "—" if r["recovery_s"] is None else f"{r['recovery_s']:.2f} s"
print("| tasks (kill -9 of one replica mid-burst) | |\n|---|---|")
for label, key in [("submitted and acknowledged (202)", "submitted"),
                   ("submissions whose answer was lost (in flight to the killed replica)", "submit_errors"),
                   ("tasks in the store", "in_store"),
                   ("completed", "completed"), ("failed", "failed"), ("cancelled", "cancelled"),
                   ("running on the killed replica at the kill", "running_on_a_at_kill"),
                   ("re-run on the other replica (attempts > 1)", "rerun_after_kill"),
                   ("tasks whose model call answered twice (killed after the answer, before the outcome was written)",
                    "answered_twice"),
                   ("task calls in the ledger (the killed replica's unwritten batch died with it)",
                    "task_ledger_calls")]:
    print(f"| {label} | {r[key]:,} |")
print(f"| recovery: kill to the last of the killed replica's tasks finished | {rec} |")
print(f"| completions that failed during the kill phase | {r['kill_phase_errors']} of {r['kill_phase_requests']:,} |")
if stats:
    print("\nBalancer: " + "; ".join(l.replace("BALANCER_STATS ", "") for l in stats.splitlines()))
PY
cp "$report" bench/results/replicas-latest.md
