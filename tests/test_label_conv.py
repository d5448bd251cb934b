# SPDX-License-Identifier: Apache-2.0
import math

import numpy as np
import pytest
import torch

from p2phd import ops, reference
from tests.conftest import DEVICES

# Unit roundoff (half an ulp, relative) of each output dtype.
UNIT_ROUNDOFF = {torch.float32: 2.0**-24, torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8}


def assert_within_rounding(
    result, labels, weight, bias, label_nc, dtype=torch.float32, what="", **inputs
):
    """result may differ from the float32 reference, per element, by what rounding explains:
    u (the unit roundoff of the output dtype) of the output, u of each dense input term
    (edges and features are converted to a 16-bit output dtype first), and float32 accumulation in
    another order than torch's: sqrt(terms) roundings of 2^-24 (the statistical bound) of the
    sum of the terms' magnitudes, sum |w| |x| + |b|."""
    edges, features = inputs.get("edges"), inputs.get("features")
    expected = reference.label_conv(labels, weight, bias, label_nc, **inputs)
    absolute = {
        "edges": None if edges is None else edges.abs(),
        "features": None if features is None else features.abs(),
        "pool": inputs.get("pool", False),
    }
    magnitude = reference.label_conv(labels, weight.abs(), bias.abs(), label_nc, **absolute)
    u = UNIT_ROUNDOFF[dtype]
    dense = 0  # float32 edges and features are used as they are
    if dtype != torch.float32:
        dense_weight = weight.abs()
        dense_weight[:, :label_nc] = 0
        dense = reference.label_conv(labels, dense_weight, 0 * bias, label_nc, **absolute)
    dense_channels = weight.shape[1] - label_nc
    terms = weight.shape[-1] ** 2 * (1 + dense_channels)  # one one-hot channel is set per pixel
    allowed = u * expected.abs() + u * dense + math.sqrt(terms) * 2.0**-24 * magnitude
    error = (result.cpu().float() - expected).abs()
    worst = (error / allowed.clamp_min(1e-30)).max()
    assert worst <= 1, f"{what} error {error.max():.3g}, {worst:.2f} x what rounding allows"


def _weights(in_channels: int, out_channels: int, kernel: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(out_channels, in_channels, kernel, kernel, generator=generator) * 0.1
    return weight, torch.randn(out_channels, generator=generator)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("with_edges", [True, False])
@pytest.mark.parametrize("feature_channels", [0, 3])
@pytest.mark.parametrize("out_channels", [5, 16, 37])  # within, at and across chunks of 16
def test_random_match_reference(device, dtype, with_edges, feature_channels, out_channels):
    generator = torch.Generator().manual_seed(4)
    labels = torch.randint(0, 12, (2, 11, 19), generator=generator, dtype=torch.int32)
    instances = torch.randint(0, 3, (2, 11, 19), generator=generator)
    edges = reference.instance_edges(instances) if with_edges else None
    features = torch.randn(2, feature_channels, 11, 19, generator=generator)
    features = features if feature_channels else None
    in_channels = 12 + with_edges + feature_channels
    weight, bias = _weights(in_channels, out_channels, 7, seed=out_channels)
    on_device = [t if t is None else t.to(device) for t in (labels, edges, features, weight, bias)]
    result = ops.label_conv(
        on_device[0], on_device[3], on_device[4], 12,
        edges=on_device[1], features=on_device[2], dtype=dtype,
    )  # fmt: skip
    assert result.dtype == dtype and result.shape == (2, out_channels, 11, 19)
    assert_within_rounding(result, labels, weight, bias, 12, dtype, edges=edges, features=features)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("pool", [False, True])
def test_uint16_labels(device, pool):
    # Runtime accepts uint16 label maps (16-bit PNGs): they must work as int32 ones do.
    labels = torch.randint(0, 9, (2, 10, 13), generator=torch.Generator().manual_seed(3))
    weight, bias = _weights(9, 6, 3, seed=1)
    weight, bias = weight.to(device), bias.to(device)
    expected = ops.label_conv(labels.to(torch.int32).to(device), weight, bias, 9, pool=pool)
    result = ops.label_conv(labels.to(torch.uint16).to(device), weight, bias, 9, pool=pool)
    assert torch.equal(result, expected)
    with pytest.raises(ValueError, match="label 65535 is outside"):
        ops.label_conv(torch.full((1, 4, 4), 65535, dtype=torch.uint16).to(device), weight, bias, 9)


@pytest.mark.parametrize("kernel", [1, 3, 5])
def test_other_kernel_sizes(kernel):
    labels = torch.randint(0, 6, (1, 9, 7), generator=torch.Generator().manual_seed(1))
    weight, bias = _weights(6, 4, kernel, seed=kernel)
    assert_within_rounding(ops.label_conv(labels, weight, bias, 6), labels, weight, bias, 6)


def test_single_numpy_image_without_bias():
    labels = np.random.default_rng(0).integers(0, 5, (8, 10)).astype(np.uint8)
    weight = np.random.default_rng(1).normal(size=(3, 5, 3, 3)).astype(np.float32)
    result = ops.label_conv(labels, weight, None, 5)
    assert isinstance(result, np.ndarray) and result.shape == (3, 8, 10)
    assert_within_rounding(
        torch.from_numpy(result)[None], torch.from_numpy(labels)[None], torch.from_numpy(weight),
        torch.zeros(3), 5,
    )  # fmt: skip


@pytest.mark.parametrize("device", DEVICES)
def test_cityscapes_match_reference(device, cityscapes):
    # Every 8th pixel of the real maps: real label layouts at a size the CPU convolves fast.
    weight, bias = _weights(36, 8, 7, seed=0)
    for name, labels, instances in cityscapes:
        labels = torch.from_numpy(labels[::8, ::8].copy())[None]
        edges = reference.instance_edges(
            torch.from_numpy(instances[::8, ::8].astype(np.int32))[None]
        )
        result = ops.label_conv(
            labels.to(device), weight.to(device), bias.to(device), 35, edges=edges.to(device)
        )
        assert_within_rounding(result, labels, weight, bias, 35, what=name, edges=edges)


@pytest.mark.parametrize("device", DEVICES)
def test_label_out_of_range_raises(device):
    labels = torch.full((1, 8, 8), 5, dtype=torch.uint8, device=device)
    weight, bias = _weights(5, 2, 3, seed=0)
    with pytest.raises(ValueError, match="label 5 is outside"):
        ops.label_conv(labels, weight.to(device), bias.to(device), 5)


def test_bad_input_raises():
    labels = np.zeros((1, 8, 8), np.uint8)
    weight = np.zeros((2, 5, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"weight must be float32 \[6, 3, 3, C_out\]"):
        ops.label_conv(labels, weight, None, 5, edges=np.zeros((1, 1, 8, 8), np.float32))
    with pytest.raises(ValueError, match="k odd"):
        ops.label_conv(labels, np.zeros((2, 5, 4, 4), np.float32), None, 5)
    with pytest.raises(ValueError, match="reflection padding 3 needs maps larger"):
        ops.label_conv(labels[:, :3], np.zeros((2, 5, 7, 7), np.float32), None, 5)
    with pytest.raises(ValueError, match="C_out x C_in x k x k"):
        ops.label_conv(labels, np.zeros((5, 3, 3), np.float32), None, 5)
    with pytest.raises(ValueError, match="same kind"):
        ops.label_conv(labels, torch.zeros(2, 5, 3, 3), None, 5)


def test_out_is_reused():
    labels = torch.randint(0, 4, (1, 6, 9), generator=torch.Generator().manual_seed(2))
    weight, bias = _weights(4, 3, 3, seed=2)
    out = torch.full((1, 3, 6, 9), 7.0)
    assert ops.label_conv(labels, weight, bias, 4, out=out) is out
    assert_within_rounding(out, labels, weight, bias, 4)


@pytest.mark.parametrize("device", DEVICES)
def test_channels_last_output(device):
    labels = torch.randint(0, 7, (2, 10, 12), generator=torch.Generator().manual_seed(3))
    weight, bias = _weights(7, 20, 7, seed=3)
    args = (labels.to(device), weight.to(device), bias.to(device), 7)
    nhwc = ops.label_conv(*args, channels_last=True)
    assert nhwc.is_contiguous(memory_format=torch.channels_last) and not nhwc.is_contiguous()
    assert torch.equal(nhwc, ops.label_conv(*args))
    with pytest.raises(ValueError, match="channels_last output needs a batch of torch tensors"):
        ops.label_conv(labels[0].numpy(), weight.numpy(), bias.numpy(), 7, channels_last=True)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("size", [(16, 22), (15, 23)])  # even and odd: the last window is cut
def test_pooled_matches_reference(device, dtype, size):
    generator = torch.Generator().manual_seed(9)
    # Blocks of one label with noise on top: windows of one, two and many labels.
    labels = torch.randint(0, 4, (2, size[0] // 4 + 1, size[1] // 4 + 1), generator=generator)
    labels = labels.repeat_interleave(4, 1).repeat_interleave(4, 2)[:, : size[0], : size[1]]
    noise = torch.rand(2, *size, generator=generator) < 0.2
    labels = torch.where(noise, torch.randint(0, 9, (2, *size), generator=generator), labels)
    edges = reference.instance_edges(labels)
    features = torch.randn(2, 3, *size, generator=generator)
    weight, bias = _weights(13, 20, 7, seed=9)
    on_device = [t.to(device) for t in (labels, weight, bias, edges, features)]
    result = ops.label_conv(
        *on_device[:3], 9, edges=on_device[3], features=on_device[4], pool=True, dtype=dtype
    )
    assert result.shape == (2, 20, (size[0] + 1) // 2, (size[1] + 1) // 2)
    assert_within_rounding(
        result, labels, weight, bias, 9, dtype, edges=edges, features=features, pool=True
    )


@pytest.mark.parametrize("device", DEVICES)
def test_pooled_cityscapes_match_reference(device, cityscapes):
    weight, bias = _weights(36, 8, 7, seed=1)
    for name, labels, instances in cityscapes[:5]:
        labels = torch.from_numpy(labels[::4, ::4].copy())[None]
        edges = reference.instance_edges(
            torch.from_numpy(instances[::4, ::4].astype(np.int32))[None]
        )
        result = ops.label_conv(
            labels.to(device), weight.to(device), bias.to(device), 35, edges=edges.to(device),
            pool=True,
        )  # fmt: skip
        assert_within_rounding(result, labels, weight, bias, 35, what=name, edges=edges, pool=True)


def test_pooled_bad_input_raises():
    labels = np.zeros((1, 6, 6), np.uint8)
    with pytest.raises(ValueError, match="reflection padding 3 needs pooled maps larger"):
        ops.label_conv(labels, np.zeros((2, 5, 7, 7), np.float32), None, 5, pool=True)
    labels[0, 5, 5] = 7
    with pytest.raises(ValueError, match="label 7 is outside"):
        ops.label_conv(labels, np.zeros((2, 5, 3, 3), np.float32), None, 5, pool=True)
