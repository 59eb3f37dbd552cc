#!/usr/bin/env bash
# The one step on a GPU, in at most about 8 minutes: steps/s of the MoW k = 1 trial (CWAE,
# MoW MNIST MLP) eager and compiled (CUDA graphs), member-steps/s of eager and compiled packs of
# 5, 15 and 45, and the DCGAN minibatch(64) trial, each against the bare eager loop
# (benchmarks/bench_step.py, measured side by side). Imports only the training core: torch,
# numpy, PyYAML and pydantic (with pydantic-core, typing-extensions, annotated-types and
# typing-inspection). Where pip cannot reach an index, put cp312 manylinux wheels of those in
# .whl/ (pip download --only-binary=:all: --python-version 3.12 --platform
# manylinux2014_x86_64 -d .whl pydantic pydantic-core typing-extensions annotated-types
# typing-inspection); they are installed into /tmp/site.
# Usage: bash benchmarks/gpu_check.sh [OUTPUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-.}}"
if ! python3 -c "import pydantic" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
{
  timeout 300 python3 benchmarks/bench_step.py --device cuda --cases mow_k1_cwae \
    --members 5,15,45 --steps 640 --rounds 3
  timeout 150 python3 benchmarks/bench_step.py --device cuda --cases dcgan \
    --members 5 --steps 160 --rounds 3
} 2>&1 | tee "$out/gpu_check.txt"
