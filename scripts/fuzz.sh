#!/usr/bin/env bash
# Fuzzes Fusion's parsers with cargo-fuzz (libFuzzer, nightly toolchain): each target runs for
# FUZZ_SECONDS (default 600; 30 is the smoke run), one at a time, then its corpus is minimised
# and replayed to find the slowest input. Fails on any crash, hang (> 1 s) or input slower than
# FUZZ_SLOW_MS (default 100 ms). Targets: the arguments, else all of them.
#
#   scripts/fuzz.sh                        # every target, 10 minutes each
#   FUZZ_SECONDS=30 scripts/fuzz.sh        # the smoke run
#   scripts/fuzz.sh sse_openai judge_json  # some targets
#
# Needs a nightly toolchain (`rustup toolchain install nightly`); installs cargo-fuzz from
# crates.io when missing. Builds in FUZZ_TARGET_DIR (default ~/.cache/fusion-fuzz-target), never
# in the stable build's cache. Corpora: fuzz/corpus/<target> (kept in the repo, minimised),
# hand-made seeds: fuzz/seeds/<target>; crashes: fuzz/artifacts/<target>, logs:
# fuzz/artifacts/logs (both ignored by git).
set -euo pipefail

cd "$(dirname "$0")/.."
FUZZ_DIR=$PWD/fuzz
SECONDS_PER_TARGET=${FUZZ_SECONDS:-600}
SLOW_MS=${FUZZ_SLOW_MS:-100}
SANITIZER=${FUZZ_SANITIZER:-none}
TOOLCHAIN=${FUZZ_TOOLCHAIN:-nightly}
TARGET_DIR=${FUZZ_TARGET_DIR:-$HOME/.cache/fusion-fuzz-target}
ALL_TARGETS=(openai_request sse_openai sse_anthropic judge_json config_toml config_legacy mcp_jsonrpc
    token_estimate)

if [[ $# -gt 0 ]]; then
    TARGETS=("$@")
else
    TARGETS=("${ALL_TARGETS[@]}")
fi
for target in "${TARGETS[@]}"; do
    if [[ ! -f $FUZZ_DIR/fuzz_targets/$target.rs ]]; then
        echo "fuzz.sh: no target \`$target\` (targets: ${ALL_TARGETS[*]})" >&2
        exit 2
    fi
done

dict_for() {
    case $1 in
        openai_request | judge_json | config_legacy) echo "$FUZZ_DIR/dicts/json.dict" ;;
        sse_openai | sse_anthropic) echo "$FUZZ_DIR/dicts/sse.dict" ;;
        config_toml) echo "$FUZZ_DIR/dicts/toml.dict" ;;
        mcp_jsonrpc) echo "$FUZZ_DIR/dicts/jsonrpc.dict" ;;
    esac
}

# Longest input libFuzzer may build. The text targets get room for the sizes where a super-linear
# algorithm shows (the token estimator samples texts over 64 KiB).
max_len_for() {
    case $1 in
        token_estimate) echo 131072 ;;
        judge_json) echo 65536 ;;
        sse_openai | sse_anthropic) echo 16384 ;;
        *) echo 4096 ;;
    esac
}

if ! cargo "+$TOOLCHAIN" --version >/dev/null 2>&1; then
    echo "fuzz.sh: the $TOOLCHAIN toolchain is missing: rustup toolchain install $TOOLCHAIN" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

# `cargo fuzz` runs its targets release-built with debug assertions and overflow checks.
FUZZ_OPTS=(--sanitizer "$SANITIZER" --target-dir "$TARGET_DIR" --fuzz-dir "$FUZZ_DIR")
echo "fuzz.sh: building with $(cargo "+$TOOLCHAIN" --version) (sanitizer: $SANITIZER)" >&2
cargo "+$TOOLCHAIN" fuzz build "${FUZZ_OPTS[@]}"

export FUSION_FUZZ_SLOW_MS=$SLOW_MS
stat_of() { # stat name, log file
    grep -a "^stat::$1:" "$2" | tail -n 1 | awk '{print $2}'
}
count_files() { find "$1" -maxdepth 1 -type f 2>/dev/null | wc -l | tr -d ' '; }
count_findings() { # what libFuzzer leaves in an artifacts dir: crash-*, timeout-*, oom-*, ...
    find "$1" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' \
        -o -name 'slow-unit-*' -o -name 'leak-*' \) 2>/dev/null | wc -l | tr -d ' '
}

ROWS=()
FAILED=0
for target in "${TARGETS[@]}"; do
    corpus=$FUZZ_DIR/corpus/$target
    seeds=$FUZZ_DIR/seeds/$target
    artifacts=$FUZZ_DIR/artifacts/$target
    logs=$FUZZ_DIR/artifacts/logs
    mkdir -p "$corpus" "$seeds" "$artifacts" "$logs"
    log=$logs/$target.run.log
    dict=$(dict_for "$target")
    args=(-max_total_time="$SECONDS_PER_TARGET" -timeout=1 -print_final_stats=1
        -max_len="$(max_len_for "$target")")
    [[ -n $dict ]] && args+=(-dict="$dict")
    crashes_before=$(count_findings "$artifacts")

    echo "fuzz.sh: $target for ${SECONDS_PER_TARGET}s (log: $log)" >&2
    status=0
    cargo "+$TOOLCHAIN" fuzz run "${FUZZ_OPTS[@]}" "$target" "$corpus" "$seeds" -- "${args[@]}" \
        >"$log" 2>&1 || status=$?
    execs=$(stat_of number_of_executed_units "$log")
    rate=$(stat_of average_exec_per_sec "$log")
    crashes=$(($(count_findings "$artifacts") - crashes_before))
    if [[ $status -ne 0 ]]; then
        echo "fuzz.sh: $target failed (exit $status); the end of its log:" >&2
        tail -n 40 "$log" >&2
        crashes=$((crashes > 0 ? crashes : 1))
    fi

    # Keep the corpus small: only inputs that add coverage.
    cargo "+$TOOLCHAIN" fuzz cmin "${FUZZ_OPTS[@]}" "$target" "$corpus" -- -timeout=1 -max_len="$(max_len_for "$target")" \
        >"$logs/$target.cmin.log" 2>&1 || echo "fuzz.sh: cmin of $target failed (see $logs/$target.cmin.log)" >&2

    # Replay the corpus and the seeds once, timing every input.
    replay=$logs/$target.replay.log
    slowest=
    if FUSION_FUZZ_TIMES=1 cargo "+$TOOLCHAIN" fuzz run "${FUZZ_OPTS[@]}" "$target" "$corpus" "$seeds" \
        -- -runs=0 -timeout=1 -max_len="$(max_len_for "$target")" >"$replay" 2>&1; then
        slowest=$(grep -a '^fusion-fuzz: slowest' "$replay" | tail -n 1 | awk '{print $3}')
    else
        echo "fuzz.sh: replaying $target's corpus failed (see $replay)" >&2
        crashes=$((crashes > 0 ? crashes : 1))
    fi
    slowest=${slowest:-0}
    files=$(count_files "$corpus")
    size=$(du -sk --apparent-size "$corpus" | awk '{print $1}')
    slow=$(awk -v s="$slowest" -v l="$SLOW_MS" 'BEGIN { print (s > l) ? 1 : 0 }')
    if [[ $crashes -gt 0 || $slow -eq 1 ]]; then
        FAILED=1
    fi
    row=$(printf '| %s | %s | %s | %s | %s (%s KiB) | %s | %s |' "$target" "$SECONDS_PER_TARGET" \
        "${execs:-?}" "${rate:-?}" "$files" "$size" "$slowest" "$crashes")
    ROWS+=("$row")
    echo "fuzz.sh: $row" >&2
done

summary=$FUZZ_DIR/artifacts/summary.md
printf '%s\n' "${ROWS[@]}" >>"$FUZZ_DIR/artifacts/history.md"
{
    echo "fuzz run $(date -u +%Y-%m-%dT%H:%MZ), $(cargo "+$TOOLCHAIN" --version), sanitizer $SANITIZER," \
        "-timeout=1, slow limit ${SLOW_MS} ms"
    echo
    echo "| target | seconds | execs | exec/s | corpus files | slowest input (ms) | crashes |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${ROWS[@]}"
} | tee "$summary"
if [[ $FAILED -ne 0 ]]; then
    echo "fuzz.sh: FAILED: a crash, hang or slow input (see fuzz/artifacts/<target>)" >&2
    exit 1
fi
