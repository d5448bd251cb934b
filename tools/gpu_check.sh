#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# On a machine with an NVIDIA GPU: build p2phd with its CUDA kernels, run every test (the
# `cuda`-marked ones too), the op benchmarks and the 2048x1024 render benchmark of every
# backend (without torch.compile, which takes minutes: BENCHMARKS.md has that command).
# Usage: tools/gpu_check.sh [RESULTS_DIR]
# Expects torch, numpy, pillow, pytest, pybind11 and scikit-build-core to be installed.
set -euo pipefail
results=${1:-gpu-results}
mkdir -p "$results"
python3 -m pip install --no-build-isolation --no-deps -q -Cbuild-dir=build/gpu .
python3 -c "import p2phd, torch; print(p2phd.build_info(), torch.__version__, torch.cuda.get_device_name())"
tests_status=0
python3 -m pytest -q -rs tests 2>&1 | tee "$results/tests.txt" || tests_status=$?
for batch in 1 4; do
  p2phd-bench ops --device cuda --size 1024x2048 --batch "$batch" --runs 50 \
    --json "$results/ops_cuda_batch$batch.json"
done
p2phd-bench render --arch label2city_1024p --device cuda --sizes 1024x2048 --batches 1,4 \
  --runs 20 --compile none --json "$results/render_cuda.json"
exit "$tests_status"
