#!/usr/bin/env bash
# Quick start: builds Fusion and asks a council QUESTION.
#   scripts/quickstart.sh "QUESTION" [fusion ask options...]
#   scripts/quickstart.sh --serve      # keep the local model server running for the examples
# With a config file (./fusion.toml, $FUSION_CONFIG) or a local model server already running
# (Ollama, LM Studio, llama.cpp, vLLM on their default ports), it just runs `fusion ask`.
# Otherwise it brings up a real local model server for the duration of the question:
# llama.cpp's llama-server with SmolLM2-135M-Instruct on 127.0.0.1:8080, installed into
# ~/.cache/fusion-peers the first time (about 5 minutes), and Fusion discovers it. With
# --serve it builds Fusion, starts that server and keeps it running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
  echo "usage: scripts/quickstart.sh \"QUESTION\" [fusion ask options...] | --serve" >&2
  exit 2
fi
SERVE=0
[ "$1" = "--serve" ] && SERVE=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fusion-target}"
log() { printf '[quickstart] %s\n' "$*" >&2; }

log "building fusion (release)"
cargo build --release --locked -p fusion-cli >&2
FUSION="$CARGO_TARGET_DIR/release/fusion"

answers() { curl -fsS --max-time 1 "http://127.0.0.1:$1/v1/models" >/dev/null 2>&1; }
if [ "$SERVE" = 0 ] && { [ -n "${FUSION_CONFIG:-}" ] || [ -f fusion.toml ] || [ -f "${XDG_CONFIG_HOME:-$HOME/.config}/fusion/fusion.toml" ]; }; then
  exec "$FUSION" ask "$@"
fi
for port in 11434 1234 8080 8000; do
  if answers "$port"; then
    log "a local model server answers on port $port"
    [ "$SERVE" = 1 ] && { log "nothing to start; fusion is $FUSION"; exit 0; }
    exec "$FUSION" ask "$@"
  fi
done

log "no local model server answers; starting llama-server with SmolLM2-135M-Instruct"
while IFS='=' read -r name value; do export "$name=$value"; done < <(scripts/install-peers.sh --model)
server_log=$(mktemp -t fusion-llama.XXXXXX.log)
"$FUSION_LLAMA_SERVER" -m "$FUSION_SMOLLM_GGUF" --host 127.0.0.1 --port 8080 \
  -c 8192 -np 3 -n 384 -a SmolLM2-135M-Instruct >"$server_log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -f "$server_log"' EXIT
for _ in $(seq 1 120); do
  answers 8080 && break
  kill -0 "$server" 2>/dev/null || { cat "$server_log" >&2; log "llama-server did not start"; exit 1; }
  sleep 0.5
done
answers 8080 || { log "llama-server did not answer within 60 s"; exit 1; }
if [ "$SERVE" = 1 ]; then
  log "llama-server with SmolLM2 on http://127.0.0.1:8080/v1 until Ctrl-C; in another shell:"
  log "  export PATH=\"$(dirname "$FUSION"):\$PATH\"   # then: fusion ask \"...\""
  wait "$server"
  exit 0
fi
"$FUSION" ask "$@"
