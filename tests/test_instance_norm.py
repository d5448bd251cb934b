# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest
import torch

from p2phd import ops, reference
from tests.conftest import DEVICES

TOLERANCE = {torch.float32: 2e-5, torch.float16: 4e-3, torch.bfloat16: 3e-2}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"relu": True},
        {"relu": True, "pad": 3},
        {"pad": 1, "residual_pad": 1},  # a residual block's second norm
        {"relu": True, "residual_pad": 0},  # the local enhancer's junction
    ],
)
def test_random_match_reference(device, dtype, options):
    generator = torch.Generator().manual_seed(3)
    # Off-centre values test that the statistics do not cancel in float32.
    x = (torch.randn(2, 3, 70, 90, generator=generator) * 2 + 40).to(dtype)
    residual = None
    if "residual_pad" in options:
        pad = options["residual_pad"]
        residual = torch.randn(2, 3, 70 + 2 * pad, 90 + 2 * pad, generator=generator).to(dtype)
    expected = reference.instance_norm(x, residual=residual, **options)
    residual = residual if residual is None else residual.to(device)
    result = ops.instance_norm(x.to(device), residual=residual, **options)
    assert result.dtype == dtype and result.shape == expected.shape
    torch.testing.assert_close(
        result.cpu().float(), expected.float(), atol=TOLERANCE[dtype], rtol=TOLERANCE[dtype]
    )


@pytest.mark.parametrize("device", DEVICES)
def test_planes_larger_than_a_chunk(device):
    # 2 x 4100 pixels: two partial sums per plane, the second one of 4 elements.
    x = torch.randn(1, 2, 2, 4100, generator=torch.Generator().manual_seed(5)) * 3 - 7
    result = ops.instance_norm(x.to(device), relu=True, pad=1)
    torch.testing.assert_close(
        result.cpu(), reference.instance_norm(x, relu=True, pad=1), atol=2e-5, rtol=0
    )


@pytest.mark.parametrize("device", DEVICES)
def test_constant_plane_is_zero(device):
    x = torch.full((1, 2, 5, 6), 3.5, device=device)
    assert torch.equal(ops.instance_norm(x).cpu(), torch.zeros(1, 2, 5, 6))


def test_single_numpy_image():
    x = np.random.default_rng(0).normal(size=(4, 9, 7)).astype(np.float32)
    result = ops.instance_norm(x, relu=True, pad=2)
    assert isinstance(result, np.ndarray) and result.shape == (4, 13, 11)
    expected = reference.instance_norm(torch.from_numpy(x)[None], relu=True, pad=2)[0]
    np.testing.assert_allclose(result, expected.numpy(), atol=2e-5)


def test_bad_input_raises():
    x = np.zeros((1, 2, 4, 4), np.float32)
    with pytest.raises(ValueError, match=r"pad must be in \[0, min\(H, W\)\)"):
        ops.instance_norm(x, pad=4)
    with pytest.raises(ValueError, match="residual must have shape"):
        ops.instance_norm(x, residual=np.zeros((1, 2, 4, 4), np.float32), residual_pad=1)
    with pytest.raises(ValueError, match="residual must have x's dtype"):
        ops.instance_norm(x, residual=np.zeros((1, 2, 4, 4), np.float16))
    with pytest.raises(ValueError, match="expected float32, float16 or bfloat16"):
        ops.instance_norm(np.zeros((1, 2, 4, 4), np.float64))


def test_out_is_reused():
    x = torch.randn(1, 2, 5, 6, generator=torch.Generator().manual_seed(1))
    out = torch.empty(1, 2, 7, 8)
    assert ops.instance_norm(x, pad=1, out=out) is out
    torch.testing.assert_close(out, reference.instance_norm(x, pad=1), atol=2e-5, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channels", [3, 48, 300])  # one lane per pixel, uneven, two groups
def test_channels_last_matches_planar(device, channels):
    generator = torch.Generator().manual_seed(channels)
    x = (torch.randn(2, channels, 9, 13, generator=generator) - 3).to(device)
    residual = torch.randn(2, channels, 11, 15, generator=generator).to(device)
    options = {"relu": True, "residual_pad": 1, "pad": 2}
    planar = ops.instance_norm(x, residual=residual, **options)
    nhwc = ops.instance_norm(x.to(memory_format=torch.channels_last), residual=residual, **options)
    assert nhwc.is_contiguous(memory_format=torch.channels_last) and not nhwc.is_contiguous()
    torch.testing.assert_close(nhwc, planar, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        nhwc.cpu(), reference.instance_norm(x.cpu(), residual=residual.cpu(), **options),
        atol=2e-5, rtol=0,
    )  # fmt: skip


def test_channels_last_out_must_be_channels_last():
    x = torch.randn(1, 4, 5, 6).to(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="stored channels_last"):
        ops.instance_norm(x, out=torch.empty(1, 4, 5, 6))
    out = torch.empty(1, 4, 5, 6).to(memory_format=torch.channels_last)
    assert ops.instance_norm(x, out=out) is out
