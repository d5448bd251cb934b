# SPDX-License-Identifier: Apache-2.0
import os

import pytest
import torch

import p2phd


def test_build_info_reports_cuda_and_architectures():
    info = p2phd.build_info()
    assert isinstance(info["cuda"], bool)
    assert isinstance(info["cuda_architectures"], str)
    assert bool(info["cuda_architectures"]) == info["cuda"]


@pytest.mark.skipif(
    not os.environ.get("P2PHD_EXPECT_CUDA_BUILD"), reason="set where nvcc was on PATH at build"
)
def test_cuda_kernels_were_compiled_where_nvcc_was_found():
    info = p2phd.build_info()
    assert info["cuda"], "nvcc was on PATH but the build has no CUDA kernels"
    assert "90" in info["cuda_architectures"].split(",") or os.environ.get("CUDAARCHS")


@pytest.mark.cuda
def test_ops_run_on_the_current_stream():
    stream = torch.cuda.Stream()
    labels = torch.randint(0, 9, (1, 64, 64), device="cuda")
    with torch.cuda.stream(stream):
        result = p2phd.ops.one_hot(labels, 9, check=False)
    stream.synchronize()
    assert torch.equal(result.argmax(1), labels)
