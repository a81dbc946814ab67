#!/usr/bin/env bash
# Download (here, where the package registries are reachable) the wheels a bare GPU host with
# PyTorch and transformers lacks for `pytest -m gpu` and benchmarks/bench_gpu.py; copy the
# folder there and install with:
#   python3 -m pip install --no-index --no-deps --target /tmp/site DIR/*.whl && export PYTHONPATH=/tmp/site
# Versions are the ones this project tests with; the target is CPython 3.12 on x86-64.
set -euo pipefail
dest=${1:-.whl}
py=${PYTHON:-.venv/bin/python}
"$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d "$dest" \
  trl==1.16.0 peft==0.21.2 datasets==5.0.1 dill==0.4.1 multiprocess==0.70.19 \
  pydantic==2.14.4 pydantic_core==2.50.5 pydantic-settings==2.16.3 python-dotenv==1.2.4 \
  annotated-types==0.8.0 typing-inspection==0.4.5 fastapi==0.165.0 starlette==1.10.0 \
  uvicorn==0.54.0 opentelemetry-api==1.45.2 bitsandbytes==0.50.2
echo "wheels in $dest"
