# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest
import torch

from p2phd import ops, reference
from tests.conftest import DEVICES


def _weights(in_channels: int, out_channels: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(out_channels, in_channels, 7, 7, generator=generator) * 0.05
    return weight, torch.randn(out_channels, generator=generator) * 0.1


def _levels_apart(result: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
    return (result.cpu().int() - expected.int()).abs()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("out_channels", [1, 3, 4])
def test_random_match_reference(device, dtype, out_channels):
    generator = torch.Generator().manual_seed(8)
    x = torch.randn(2, 6, 17, 23, generator=generator).to(dtype)
    weight, bias = _weights(6, out_channels, seed=out_channels)
    expected = reference.output_conv(x, weight, bias)
    result = ops.output_conv(x.to(device), weight.to(device), bias.to(device))
    assert result.dtype == torch.uint8 and result.shape == (2, 11, 17, out_channels)
    # A sum in another order may land a value on the other side of a rounding boundary.
    apart = _levels_apart(result, expected)
    assert apart.max() <= 1 and (apart > 0).float().mean() < 0.01


@pytest.mark.parametrize("device", DEVICES)
def test_padded_by_instance_norm_matches_the_generator_tail(device):
    # What a generator ends in: norm, ReLU, reflection pad 3, conv 7x7, tanh, image.
    x = torch.randn(1, 8, 12, 20, generator=torch.Generator().manual_seed(2))
    weight, bias = _weights(8, 3, seed=0)
    tail = torch.nn.functional.pad(
        torch.relu(torch.nn.functional.instance_norm(x)), (3, 3, 3, 3), mode="reflect"
    )
    expected = reference.to_uint8_image(torch.tanh(torch.nn.functional.conv2d(tail, weight, bias)))
    padded = ops.instance_norm(x.to(device), relu=True, pad=3)
    result = ops.output_conv(padded, weight.to(device), bias.to(device))
    assert _levels_apart(result, expected).max() <= 1


def test_single_numpy_image():
    x = np.random.default_rng(0).normal(size=(2, 9, 10)).astype(np.float32)
    weight = np.random.default_rng(1).normal(size=(3, 2, 7, 7)).astype(np.float32) * 0.1
    result = ops.output_conv(x, weight, None)
    assert isinstance(result, np.ndarray) and result.shape == (3, 4, 3)
    expected = reference.output_conv(
        torch.from_numpy(x)[None], torch.from_numpy(weight), torch.zeros(3)
    )
    assert np.abs(result.astype(int) - expected[0].numpy().astype(int)).max() <= 1


def test_bad_input_raises():
    x = np.zeros((1, 2, 9, 9), np.float32)
    with pytest.raises(ValueError, match="at most 4 channels"):
        ops.output_conv(x, np.zeros((5, 2, 7, 7), np.float32), None)
    with pytest.raises(ValueError, match=r"weight must be float32 \[2, 7, 7, C_out\]"):
        ops.output_conv(x, np.zeros((3, 4, 7, 7), np.float32), None)
    with pytest.raises(ValueError, match="smaller than the 7 x 7 kernel"):
        ops.output_conv(x[:, :, :5], np.zeros((3, 2, 7, 7), np.float32), None)


def test_out_is_reused():
    x = torch.randn(1, 2, 9, 10, generator=torch.Generator().manual_seed(3))
    weight, bias = _weights(2, 3, seed=3)
    out = torch.zeros(1, 3, 4, 3, dtype=torch.uint8)
    assert ops.output_conv(x, weight, bias, out=out) is out
    assert _levels_apart(out, reference.output_conv(x, weight, bias)).max() <= 1


@pytest.mark.parametrize("device", DEVICES)
def test_channels_last_input(device):
    x = torch.randn(2, 5, 12, 14, generator=torch.Generator().manual_seed(4)).to(device)
    weight, bias = _weights(5, 3, seed=4)
    planar = ops.output_conv(x, weight.to(device), bias.to(device))
    nhwc = ops.output_conv(
        x.to(memory_format=torch.channels_last), weight.to(device), bias.to(device)
    )
    assert torch.equal(nhwc, planar)
