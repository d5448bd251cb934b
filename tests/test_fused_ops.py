# SPDX-License-Identifier: Apache-2.0
"""The fused backend's custom operators: registration checked by torch.library.opcheck, and
each fake implementation compared with the real op on the same inputs."""

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from p2phd.runtime import fused_ops


def _maps(n: int = 2, h: int = 12, w: int = 17):
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 5, (n, h, w), generator=generator, dtype=torch.int32)
    instances = torch.randint(0, 3, (n, h, w), generator=generator, dtype=torch.int32)
    features = torch.randn(n, 3, h, w, generator=generator)
    return labels, instances, features


def _cases():
    labels, instances, features = _maps()
    edges = torch.rand(2, 1, 12, 17) > 0.5
    weight = torch.randn(6, 9, 7, 7)
    x = torch.randn(2, 6, 12, 17)
    nhwc = x.contiguous(memory_format=torch.channels_last)
    cases = {
        "instance_edges f32": (fused_ops.instance_edges, (instances, torch.float32)),
        "instance_edges f16": (fused_ops.instance_edges, (instances, torch.float16)),
        "generator_input": (
            fused_ops.generator_input, (labels, instances, features, 5, torch.float32)
        ),
        "generator_input no instances": (
            fused_ops.generator_input, (labels, None, None, 5, torch.bfloat16)
        ),
        "label_conv": (
            fused_ops.label_conv,
            (labels, weight, torch.randn(6), 5, edges.float(), features, False, torch.float32,
             False),
        ),
        "label_conv pooled nhwc": (
            fused_ops.label_conv,
            (labels, weight, None, 5, edges.half(), features.half(), True, torch.float16, True),
        ),
        "instance_norm": (fused_ops.instance_norm, (x, None, True, 3, 0, 1e-5)),
        "instance_norm residual nhwc": (
            fused_ops.instance_norm,
            (nhwc, torch.randn(2, 6, 14, 19).contiguous(memory_format=torch.channels_last),
             False, 1, 1, 1e-5),
        ),
        "instance_norm one channel": (fused_ops.instance_norm, (x[:, :1], None, False, 0, 0, 1e-5)),
        "output_conv": (fused_ops.output_conv, (x, torch.randn(3, 6, 7, 7), torch.randn(3))),
        "output_conv nhwc": (fused_ops.output_conv, (nhwc, torch.randn(3, 6, 5, 5), None)),
        "label_conv one output nhwc": (
            fused_ops.label_conv,
            (labels, weight[:1], None, 5, edges.float(), features, False, torch.float32, True),
        ),
    }  # fmt: skip
    return cases


CASES = _cases()


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


def _on(device: str, args: tuple) -> list:
    # .to() keeps each tensor's memory format.
    return [a.to(device) if isinstance(a, torch.Tensor) else a for a in args]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", CASES)
def test_opcheck(name, device):
    op, args = CASES[name]
    torch.library.opcheck(op, _on(device, args))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", CASES)
def test_fake_matches_real(name, device):
    op, args = CASES[name]
    args = _on(device, args)
    real = op(*args)
    with FakeTensorMode(allow_non_fake_inputs=True) as mode:
        fake_args = [mode.from_tensor(a) if isinstance(a, torch.Tensor) else a for a in args]
        fake = op(*fake_args)
    assert fake.shape == real.shape and fake.dtype == real.dtype
    assert fake.stride() == real.stride(), "memory layout differs"
    assert fake.device == real.device
