#!/usr/bin/env bash
# A simulated month of usage (not a test; issue 21): fills a fresh store in a temp
# FUSION_DATA_DIR with USAGE_DAYS days of synthetic usage rows ending now, at USAGE_RATE calls a
# second, written through the store's public API by the `usage_month` example of fusion-core
# (crates/core/examples/usage_month.rs: the same rows the ledger writes; 8 models over 4
# providers, 4 callers, ~3% failures, ~10% estimated). It times `fusion usage` on the raw rows,
# runs one maintenance pass with `storage.ledger_retention` = USAGE_RETENTION (older rows rolled
# up into hourly and daily sums, those past the retention deleted, freed pages returned, WAL
# checkpointed), then times
# `fusion usage` (plain, --json, --since 7d) again, checks the report is the same as before the
# pass, and times `fusion usage` on an empty store for the process's own cost. Each timing is
# USAGE_RUNS runs of the real binary (wall time from spawn to exit); the median is reported.
# Writes bench/results/usage-month-DATE-REV.md and usage-month-latest.md (only the first when
# USAGE_OUT names the report).
# Usage: bench/usage_month.sh. Environment: USAGE_DAYS (60), USAGE_RATE (1 call/s: 5.2 M rows
# over 60 days), USAGE_RETENTION (30d), USAGE_RUNS (11), USAGE_PROFILE (release; "debug" for a
# quick check of the script), USAGE_NO_BUILD=1 (use the binaries already built), USAGE_KEEP=1
# (keep the temp dir), USAGE_OUT (the report's path).
set -euo pipefail
cd "$(dirname "$0")/.."
DAYS="${USAGE_DAYS:-60}"
RATE="${USAGE_RATE:-1}"
RETENTION="${USAGE_RETENTION:-30d}"
RUNS="${USAGE_RUNS:-11}"
PROFILE="${USAGE_PROFILE:-release}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fusion-target}"
log() { echo "[usage-month] $(date -u +%H:%M:%S) $*" >&2; }
[[ "$DAYS" =~ ^[0-9]+$ && "$DAYS" -gt 0 ]] || { log "USAGE_DAYS must be a positive integer, got '$DAYS'"; exit 2; }
[[ "$RUNS" =~ ^[0-9]+$ && "$RUNS" -gt 0 ]] || { log "USAGE_RUNS must be a positive integer, got '$RUNS'"; exit 2; }
[[ "$RATE" =~ ^[0-9]*\.?[0-9]+$ ]] || { log "USAGE_RATE must be a positive number, got '$RATE'"; exit 2; }
case "$PROFILE" in
  release) flag=(--release) ;;
  debug) flag=() ;;
  *) log "USAGE_PROFILE must be release or debug, got '$PROFILE'"; exit 2 ;;
esac
if [[ "${USAGE_NO_BUILD:-}" != 1 ]]; then
  log "building fusion and the usage_month generator ($PROFILE)"
  cargo build "${flag[@]}" --locked -p fusion-cli --bin fusion >&2
  cargo build "${flag[@]}" --locked -p fusion-core --example usage_month >&2
fi
FUSION="$CARGO_TARGET_DIR/$PROFILE/fusion"
GEN="$CARGO_TARGET_DIR/$PROFILE/examples/usage_month"
for b in "$FUSION" "$GEN"; do
  [[ -x "$b" ]] || { log "missing $b (build it, or drop USAGE_NO_BUILD)"; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/fusion-usage-month.XXXXXX")
cleanup() { [[ "${USAGE_KEEP:-}" == 1 ]] && log "kept $work" || rm -rf "$work"; }
trap cleanup EXIT
data="$work/data"
empty="$work/empty"
mkdir -p "$data" "$empty"
db="$data/fusion/fusion.db"
url="sqlite://$db"
for dir in "$data" "$empty"; do
  printf '[storage]\nledger_retention = "%s"\n\n[router]\ndiscover = false\n' "$RETENTION" >"$dir/fusion.toml"
done

# `fusion usage ARGS...` run in data dir $1, with the isolation the tests use.
fusion_in() {
  local dir="$1"; shift
  env -i PATH="$PATH" HOME="$dir" XDG_CONFIG_HOME="$dir/xdg-config" XDG_DATA_HOME="$dir/xdg-data" \
    FUSION_DATA_DIR="$dir" FUSION_DISCOVERY_TARGETS="none=http://127.0.0.1:9/v1" \
    "$FUSION" usage --config "$dir/fusion.toml" "$@"
}
# Median, min and max wall milliseconds of $RUNS runs of `fusion usage` in dir $1 with ARGS.
time_usage() {
  local dir="$1"; shift
  local times=() start end
  fusion_in "$dir" "$@" >/dev/null # warm the page cache
  for _ in $(seq "$RUNS"); do
    start=$(date +%s%N)
    fusion_in "$dir" "$@" >/dev/null
    end=$(date +%s%N)
    times+=("$(( (end - start) / 1000 ))")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f %.1f %.1f", a[int((NR+1)/2)]/1000, a[1]/1000, a[NR]/1000}'
}
size_of() { local total=0 f; for f in "$db" "$db-wal" "$db-shm"; do [[ -f "$f" ]] && total=$((total + $(stat -c %s "$f"))); done; echo "$total"; }

log "generating $DAYS days at $RATE calls/s into $db"
fusion_in "$data" --json >/dev/null # creates and migrates the store as fusion does
generated=$("$GEN" generate "$url" "$DAYS" "$RATE")
before_stats=$("$GEN" stats "$url")
before_bytes=$(size_of)
log "generated: $generated"
log "timing fusion usage over raw rows ($RUNS runs)"
raw_plain=$(time_usage "$data")
report_before=$(fusion_in "$data" --json)
log "one maintenance pass (ledger_retention $RETENTION)"
maintained=$("$GEN" maintain "$url" "$RETENTION")
after_stats=$("$GEN" stats "$url")
after_bytes=$(size_of)
log "maintenance: $maintained"
log "timing fusion usage over raw rows and rollups ($RUNS runs each)"
rolled_plain=$(time_usage "$data")
rolled_json=$(time_usage "$data" --json)
rolled_week=$(time_usage "$data" --since 7d)
report_after=$(fusion_in "$data" --json)
empty_plain=$(time_usage "$empty")
same=$([[ "$report_before" == "$report_after" ]] && echo yes || echo NO)

rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- crates Cargo.toml Cargo.lock 2>/dev/null || rev="$rev+uncommitted"
out="${USAGE_OUT:-bench/results/usage-month-$(date -u +%F)-$rev.md}"
mkdir -p "$(dirname "$out")"
python3 - "$out" <<PY
import json, sys
generated, maintained = json.loads('''$generated'''), json.loads('''$maintained''')
before, after = json.loads('''$before_stats'''), json.loads('''$after_stats''')
def t(s):
    med, lo, hi = s.split()
    return f"{med} ms (min {lo}, max {hi})"
mib = lambda b: f"{int(b) / 1048576:.1f} MiB"
lines = [
    "# A simulated month of usage: retention, rollups and \`fusion usage\`",
    "",
    f"- Commit {'$rev'}, profile $PROFILE, $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(uname -sr), $(date -u '+%F %H:%M') UTC.",
    f"- Method: bench/usage_month.sh. {generated['rows']:,} synthetic usage rows over {generated['days']} days ending now "
    f"({generated['rate_per_second']} calls/s; 8 models, 4 providers, 4 callers, ~3% failures, ~10% estimated) written through "
    f"\`Store::insert_usage\` in {generated['seconds']:.1f} s into a fresh SQLite store; one maintenance pass with "
    "\`ledger_retention = \"$RETENTION\"\`; each timing is $RUNS runs of the real \`fusion usage\` binary (spawn to exit, "
    "after one warm-up run), median (min, max).",
    "",
    "| | raw rows | hourly sums | daily sums | store size (db + wal) | pages | free pages |",
    "|---|---:|---:|---:|---:|---:|---:|",
    f"| before maintenance | {before['raw_rows']:,} | {before['hourly_rows']:,} | {before['daily_rows']:,} | {mib($before_bytes)} | {before.get('page_count', '-')} | {before.get('freelist_count', '-')} |",
    f"| after one pass | {after['raw_rows']:,} | {after['hourly_rows']:,} | {after['daily_rows']:,} | {mib($after_bytes)} | {after.get('page_count', '-')} | {after.get('freelist_count', '-')} |",
    "",
    f"The pass summed {maintained['usage_rows_rolled_up']:,} rows and deleted {maintained['usage_rows_deleted']:,} "
    f"in {maintained['seconds']:.1f} s (done: {maintained['rollup_done']}), gave {maintained['pages_freed']:,} pages back; "
    f"errors: {maintained['errors'] or 'none'}.",
    "",
    "| \`fusion usage\` | wall time |",
    "|---|---:|",
    f"| all rows raw (before the pass) | {t('''$raw_plain''')} |",
    f"| raw rows + rollups (after the pass) | {t('''$rolled_plain''')} |",
    f"| same, \`--json\` | {t('''$rolled_json''')} |",
    f"| same, \`--since 7d\` | {t('''$rolled_week''')} |",
    f"| empty store (the process's own cost) | {t('''$empty_plain''')} |",
    "",
    f"Report before and after the pass identical (\`fusion usage --json\`, whole history): $same.",
    "",
]
text = "\n".join(lines)
open(sys.argv[1], "w").write(text)
print(text)
PY
[[ -n "${USAGE_OUT:-}" ]] || cp "$out" bench/results/usage-month-latest.md
log "wrote $out"
[[ "$same" == yes ]] || { log "the report changed across the rollup"; exit 1; }
