# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest
import torch

from p2phd import ops, reference
from tests.conftest import DEVICES

# Float32 accumulation in another order than torch's convolution.
TOLERANCE = {torch.float32: 1e-4, torch.float16: 2e-2, torch.bfloat16: 1.5e-1}


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
    expected = reference.label_conv(labels, weight, bias, 12, edges=edges, features=features)
    on_device = [t if t is None else t.to(device) for t in (labels, edges, features, weight, bias)]
    result = ops.label_conv(
        on_device[0], on_device[3], on_device[4], 12,
        edges=on_device[1], features=on_device[2], dtype=dtype,
    )  # fmt: skip
    assert result.dtype == dtype and result.shape == (2, out_channels, 11, 19)
    torch.testing.assert_close(result.cpu().float(), expected, atol=TOLERANCE[dtype], rtol=0)


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
    expected = reference.label_conv(labels, weight, bias, 6)
    torch.testing.assert_close(ops.label_conv(labels, weight, bias, 6), expected, atol=1e-5, rtol=0)


def test_single_numpy_image_without_bias():
    labels = np.random.default_rng(0).integers(0, 5, (8, 10)).astype(np.uint8)
    weight = np.random.default_rng(1).normal(size=(3, 5, 3, 3)).astype(np.float32)
    result = ops.label_conv(labels, weight, None, 5)
    assert isinstance(result, np.ndarray) and result.shape == (3, 8, 10)
    expected = reference.label_conv(
        torch.from_numpy(labels)[None], torch.from_numpy(weight), torch.zeros(3), 5
    )[0]
    np.testing.assert_allclose(result, expected.numpy(), atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_cityscapes_match_reference(device, cityscapes):
    # Every 8th pixel of the real maps: real label layouts at a size the CPU convolves fast.
    weight, bias = _weights(36, 8, 7, seed=0)
    for name, labels, instances in cityscapes:
        labels = torch.from_numpy(labels[::8, ::8].copy())[None]
        edges = reference.instance_edges(
            torch.from_numpy(instances[::8, ::8].astype(np.int32))[None]
        )
        expected = reference.label_conv(labels, weight, bias, 35, edges=edges)
        result = ops.label_conv(
            labels.to(device), weight.to(device), bias.to(device), 35, edges=edges.to(device)
        )
        torch.testing.assert_close(result.cpu(), expected, atol=1e-4, rtol=0, msg=name)


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
    torch.testing.assert_close(
        out, reference.label_conv(labels, weight, bias, 4), atol=1e-5, rtol=0
    )


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
    expected = reference.label_conv(
        labels, weight, bias, 9, edges=edges, features=features, pool=True
    )
    on_device = [t.to(device) for t in (labels, weight, bias, edges, features)]
    result = ops.label_conv(
        *on_device[:3], 9, edges=on_device[3], features=on_device[4], pool=True, dtype=dtype
    )
    assert result.shape == (2, 20, (size[0] + 1) // 2, (size[1] + 1) // 2)
    torch.testing.assert_close(result.cpu().float(), expected, atol=TOLERANCE[dtype], rtol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_pooled_cityscapes_match_reference(device, cityscapes):
    weight, bias = _weights(36, 8, 7, seed=1)
    for name, labels, instances in cityscapes[:5]:
        labels = torch.from_numpy(labels[::4, ::4].copy())[None]
        edges = reference.instance_edges(
            torch.from_numpy(instances[::4, ::4].astype(np.int32))[None]
        )
        expected = reference.label_conv(labels, weight, bias, 35, edges=edges, pool=True)
        result = ops.label_conv(
            labels.to(device), weight.to(device), bias.to(device), 35, edges=edges.to(device),
            pool=True,
        )  # fmt: skip
        torch.testing.assert_close(result.cpu(), expected, atol=1e-4, rtol=0, msg=name)


def test_pooled_bad_input_raises():
    labels = np.zeros((1, 6, 6), np.uint8)
    with pytest.raises(ValueError, match="reflection padding 3 needs pooled maps larger"):
        ops.label_conv(labels, np.zeros((2, 5, 7, 7), np.float32), None, 5, pool=True)
    labels[0, 5, 5] = 7
    with pytest.raises(ValueError, match="label 7 is outside"):
        ops.label_conv(labels, np.zeros((2, 5, 3, 3), np.float32), None, 5, pool=True)
