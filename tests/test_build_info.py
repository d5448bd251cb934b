# SPDX-License-Identifier: Apache-2.0
import pytest
import torch

import p2phd


def test_build_info_reports_cuda_and_architectures():
    info = p2phd.build_info()
    assert isinstance(info["cuda"], bool)
    assert isinstance(info["cuda_architectures"], str)
    assert bool(info["cuda_architectures"]) == info["cuda"]


@pytest.mark.cuda
def test_ops_run_on_the_current_stream():
    stream = torch.cuda.Stream()
    labels = torch.randint(0, 9, (1, 64, 64), device="cuda")
    with torch.cuda.stream(stream):
        result = p2phd.ops.one_hot(labels, 9, check=False)
    stream.synchronize()
    assert torch.equal(result.argmax(1), labels)
