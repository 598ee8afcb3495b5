#!/usr/bin/env bash
# Runs the official MCP conformance suite's server scenarios against a running MCP endpoint.
#
#   scripts/mcp-conformance.sh URL [OUTDIR] [-- SUITE OPTIONS...]
#
# URL is a Streamable HTTP endpoint on this machine (http://127.0.0.1:PORT/mcp). OUTDIR defaults
# to docs/conformance/. Options after `--` go to `conformance server` as they are, e.g.
#   --suite all|active|pending        (default active: pending scenarios left out)
#   --scenario NAME                   (one scenario; `NODE22 CONFORMANCE list --server` names them)
#   --expected-failures FILE.yml      (baseline `server: [names]`: exit 0 when exactly those fail)
#   --spec-version 2025-11-25         (only scenarios of that spec version)
# Writes, replacing the previous run's files (other files in OUTDIR, such as a baseline, stay):
#   OUTDIR/output.txt                 the suite's console output, colours stripped
#   OUTDIR/results/NAME/checks.json   each scenario's checks as the suite wrote them
#   OUTDIR/summary.json               per scenario: passed/failed/warning counts and failed checks
# Prints the passed and failed scenario names on stdout, and exits with the suite's exit code
# (0: all passed, or exactly the baseline's scenarios failed).
# The suite and its Node 22 come from scripts/install-peers.sh (installed on first use).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
log() { printf '[mcp-conformance] %s\n' "$*" >&2; }

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
  exit 2
fi
URL="$1"; shift
OUTDIR="$ROOT/docs/conformance"
if [ $# -gt 0 ] && [ "$1" != "--" ]; then OUTDIR="$1"; shift; fi
if [ $# -gt 0 ] && [ "$1" = "--" ]; then shift; fi
EXTRA=("$@")

# Loopback only: this machine's rules allow test traffic to nothing else.
host=$(printf '%s' "$URL" | sed -E 's#^[a-zA-Z]+://([^/@]*@)?(\[[^]]*\]|[^:/]*).*#\2#')
case "$host" in
  127.*|localhost|'[::1]') ;;
  *) log "refusing $URL: only loopback URLs (127.0.0.0/8, localhost, [::1])"; exit 2 ;;
esac

while IFS='=' read -r name value; do
  case "$name" in FUSION_NODE22|FUSION_MCP_CONFORMANCE|FUSION_PEERS_PYTHON) export "$name=$value" ;; esac
done < <("$ROOT/scripts/install-peers.sh")
: "${FUSION_NODE22:?scripts/install-peers.sh failed (no FUSION_NODE22)}"
: "${FUSION_MCP_CONFORMANCE:?scripts/install-peers.sh failed (no FUSION_MCP_CONFORMANCE)}"

mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

log "running the conformance suite against $URL (${EXTRA[*]:-active suite})"
start=$(date +%s%N)
set +e
NO_COLOR=1 FORCE_COLOR=0 "$FUSION_NODE22" "$FUSION_MCP_CONFORMANCE" server --url "$URL" \
  --output-dir "$work/results" "${EXTRA[@]}" >"$work/output.txt" 2>&1
rc=$?
set -e
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))

rm -rf "$OUTDIR/results"
mkdir -p "$OUTDIR/results"
sed -E -e 's/\x1b\[[0-9;]*m//g' \
  -e "s#$work/results/server-([^ ]+)-[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9-]{12}Z#$OUTDIR/results/\\1#g" \
  "$work/output.txt" >"$OUTDIR/output.txt"

# One folder per scenario, named without the suite's timestamp; then the summary.
"$FUSION_PEERS_PYTHON" - "$work/results" "$OUTDIR" "$URL" "$rc" "$elapsed_ms" <<'PY'
import json, pathlib, re, shutil, sys

src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
url, rc, elapsed = sys.argv[3], int(sys.argv[4]), int(sys.argv[5]) / 1000
scenarios = {}
for d in sorted(src.iterdir()) if src.is_dir() else []:
    name = re.sub(r"-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$", "", d.name.removeprefix("server-"))
    shutil.copytree(d, out / "results" / name)
    checks = json.loads((d / "checks.json").read_text()) if (d / "checks.json").is_file() else []
    count = lambda status: sum(1 for c in checks if c.get("status") == status)
    scenarios[name] = {
        "passed": count("SUCCESS"), "failed": count("FAILURE"), "warnings": count("WARNING"),
        "failures": [{"id": c.get("id"), "message": c.get("errorMessage") or c.get("description")}
                     for c in checks if c.get("status") in ("FAILURE", "WARNING")],
    }
ok = [n for n, s in scenarios.items() if s["failed"] == 0 and s["warnings"] == 0]
bad = [n for n in scenarios if n not in ok]
summary = {"url": url, "exit_code": rc, "elapsed_s": round(elapsed, 2),
           "scenarios_passed": ok, "scenarios_failed": bad, "scenarios": scenarios}
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(f"scenarios passing ({len(ok)}): {' '.join(ok) or '-'}")
print(f"scenarios failing ({len(bad)}): {' '.join(bad) or '-'}")
for n in bad:
    for f in scenarios[n]["failures"]:
        print(f"  {n}{'' if f['id'] == n else '/' + str(f['id'])}: {f['message']}")
if not scenarios:
    print("no scenario results: see output.txt")
PY
# The suite's own verdict on a baseline (stale entries, unexpected failures), if it gave one.
grep -E '^(Expected failures|Stale baseline|Unexpected failures|Baseline is stale)|^  [~✓✗] ' \
  "$OUTDIR/output.txt" || true
log "done in ${elapsed_ms} ms (suite exit code $rc); report in $OUTDIR"
exit "$rc"
