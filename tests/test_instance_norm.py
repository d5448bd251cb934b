# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest
import torch

from p2phd import _native, ops, reference
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


def _hard_plane(case: str) -> torch.Tensor:
    """A 1 x 1 x 256 x 1024 plane (64 chunks) on which E[x^2] - E[x]^2 cancels."""
    generator = torch.Generator().manual_seed(11)
    noise = torch.randn(1, 1, 256, 1024, generator=generator)
    if case == "outlier first":  # the first pixel, which the old kernels shifted by
        x = noise.clone()
        x[0, 0, 0, 0] = 1e3
    elif case == "tight with an outlier":
        x = 5 + 0.01 * noise
        x[0, 0, 0, 0] = 1e4
    elif case == "outlier last":
        x = noise.clone()
        x[0, 0, -1, -1] = -1e4
    elif case == "offset 1e4":
        x = 1e4 + noise
    elif case == "offset 3e6":
        x = 3e6 + 10 * noise
    elif case == "fp16 full range":
        x = ((torch.rand(1, 1, 256, 1024, generator=generator) * 2 - 1) * 65000).half()
    elif case == "fp16 near max":
        steps = torch.randint(0, 8, (1, 1, 256, 1024), generator=generator)
        x = (65504 - 32 * steps).half()
    else:
        raise ValueError(case)
    return x


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(
    "case",
    [
        "outlier first",
        "tight with an outlier",
        "outlier last",
        "offset 1e4",
        "offset 3e6",
        "fp16 full range",
        "fp16 near max",
    ],
)
def test_statistics_no_worse_than_torch(device, channels_last, case):
    # The error against float64 truth, ours and torch's own on the same input and device.
    x = _hard_plane(case).to(device)
    truth = torch.nn.functional.instance_norm(x.double(), eps=1e-5)
    torch_error = (torch.nn.functional.instance_norm(x, eps=1e-5).double() - truth).abs().max()
    if channels_last:  # three copies of the plane, so that a pixel holds several channels
        x = x.expand(1, 3, -1, -1).contiguous(memory_format=torch.channels_last)
    result = ops.instance_norm(x)
    assert result.dtype == x.dtype
    error = (result.double() - truth).abs().max()
    assert error <= torch_error, f"{case}: error {error:.3g}, torch's {torch_error:.3g}"


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize(
    ("value", "dtype"),
    [(7.3, torch.float32), (-3e38, torch.float32), (1e-30, torch.float32),
     (65504.0, torch.float16), (-0.1, torch.float16), (3e38, torch.bfloat16)],
)  # fmt: skip
def test_constant_planes_are_exactly_zero(device, channels_last, value, dtype):
    # 3 x 4100 pixels: two chunks per plane of 4096 and 4 pixels, each with the same mean.
    x = torch.full((2, 3, 3, 4100), value, dtype=dtype, device=device)
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    result = ops.instance_norm(x, relu=True, pad=1)
    assert torch.equal(result, torch.zeros_like(result))


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("shape", [(2, 3, 70, 90), (1, 300, 3, 4100), (3, 48, 9, 13)])
def test_launch_covers_every_chunk_once(shape, channels_last):
    # The grid the CUDA launcher uses, computed on the host: every (image, channel, chunk) is
    # reduced by exactly one block.
    blocks, threads, channels = _native.instance_norm_launch(list(shape), channels_last)
    n, c, h, w = shape
    chunks = -(-h * w // 4096)
    assert threads <= 256 and threads % channels == 0
    assert channels == (min(c, 256) if channels_last else 1)
    covered = []
    for block in range(blocks):
        image, first, chunk = _native.instance_norm_block(list(shape), channels_last, block)
        covered += [(image, ch, chunk) for ch in range(first, min(first + channels, c))]
    assert sorted(covered) == [
        (i, ch, k) for i in range(n) for ch in range(c) for k in range(chunks)
    ]


@pytest.mark.parametrize("channels_last", [False, True])
def test_launch_fits_batch_64_of_1024_channels(channels_last):
    # N * C = 65536 planes exceeded gridDim.y's 65535 when planes were on y.
    shape = [64, 1024, 128, 256]
    blocks, _, channels = _native.instance_norm_launch(shape, channels_last)
    assert blocks < 2**31 and blocks == 64 * (1024 // channels) * 8
    assert _native.instance_norm_block(shape, channels_last, blocks - 1) == (63, 1024 - channels, 7)
    with pytest.raises(ValueError, match="too large for one launch"):
        _native.instance_norm_launch([2**20, 2**12, 1024, 1024], channels_last)


@pytest.mark.cuda
@pytest.mark.parametrize("channels_last", [False, True])
def test_cuda_batch_64_of_1024_channels(channels_last):
    generator = torch.Generator().manual_seed(8)
    x = torch.randn(64, 1024, 4, 6, generator=generator).cuda()
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    result = ops.instance_norm(x, relu=True, pad=1)
    expected = reference.instance_norm(x.float().cpu(), relu=True, pad=1)
    torch.testing.assert_close(result.cpu(), expected, atol=2e-5, rtol=0)
