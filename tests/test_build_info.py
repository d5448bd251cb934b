# SPDX-License-Identifier: Apache-2.0
import os

import pytest
import torch

import p2phd
from p2phd import ops


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


def _every_op(maps: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """Each p2phd op once, without host synchronisation (check=False), on CUDA inputs."""
    labels, instances, features, weight = (
        maps[name] for name in ("labels", "instances", "features", "weight")
    )
    ids = torch.arange(4, dtype=torch.int32, device="cuda")
    edges = ops.instance_edges(instances)
    normed = ops.instance_norm(features, relu=True, pad=3)
    return [
        ops.one_hot(labels, 9, check=False),
        edges,
        ops.generator_input(labels, instances, 9, features=features, check=False),
        ops.instance_mean(features, instances, check=False),
        ops.instance_broadcast(instances, ids, torch.ones(4, 2, device="cuda"), check=False),
        ops.to_uint8_image(features.tanh()),
        ops.label_conv(labels, weight, None, 9, edges=edges, features=features, check=False),
        normed,
        ops.output_conv(normed, weight[:3, :3], None),
    ]


@pytest.mark.cuda
def test_ops_launch_on_the_current_stream_only():
    # A launch on the legacy default stream while a stream captures a CUDA graph fails the
    # capture, so capturing every op proves that each launches on the current stream only;
    # replaying the graph then gives what the ops give outside it.
    generator = torch.Generator().manual_seed(0)
    maps = {
        "labels": torch.randint(0, 9, (1, 64, 64), generator=generator),
        "instances": torch.randint(0, 4, (1, 64, 64), generator=generator),
        "features": torch.randn(1, 3, 64, 64, generator=generator),
        "weight": torch.randn(4, 13, 7, 7, generator=generator),
    }
    maps = {name: tensor.cuda() for name, tensor in maps.items()}
    expected = _every_op(maps)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = _every_op(maps)
    graph.replay()
    torch.cuda.synchronize()
    for result, reference in zip(captured, expected, strict=True):
        torch.testing.assert_close(result, reference, atol=1e-5, rtol=0)
