# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest
import torch

from p2phd import ops, reference
from tests.conftest import DEVICES


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_random_match_reference(device, dtype):
    generator = torch.Generator().manual_seed(7)
    y = (torch.randn(2, 3, 17, 29, generator=generator) * 1.3).to(dtype)
    result = ops.to_uint8_image(y.to(device))
    assert result.shape == (2, 17, 29, 3) and result.dtype == torch.uint8
    assert torch.equal(result.cpu(), reference.to_uint8_image(y))


@pytest.mark.parametrize("device", DEVICES)
def test_every_level_ties_and_specials(device):
    # Values whose scaled result lands exactly on k + 0.5 exercise round-half-to-even.
    levels = torch.arange(0, 256, dtype=torch.float32)
    ties = (torch.arange(0, 255, dtype=torch.float32) + 0.5) / 255 * 2 - 1
    specials = torch.tensor([float("nan"), float("inf"), -float("inf"), 5.0, -5.0])
    values = torch.cat([levels / 255 * 2 - 1, ties, specials])
    y = values[: values.numel() // 3 * 3].view(1, 3, 1, -1)
    result = ops.to_uint8_image(y.to(device)).cpu()
    assert torch.equal(result, reference.to_uint8_image(y))


def test_single_numpy_image():
    y = np.random.default_rng(0).uniform(-1, 1, (3, 4, 5)).astype(np.float32)
    result = ops.to_uint8_image(y)
    assert isinstance(result, np.ndarray) and result.shape == (4, 5, 3)
    np.testing.assert_array_equal(result, reference.to_uint8_image(torch.from_numpy(y)[None])[0])


def test_bad_input_raises():
    with pytest.raises(ValueError, match="expected float32, float16 or bfloat16"):
        ops.to_uint8_image(np.zeros((3, 4, 4), np.float64))
    with pytest.raises(ValueError, match="must have 3 .* or 4"):
        ops.to_uint8_image(np.zeros((4, 4), np.float32))


def test_out_is_reused():
    y = torch.zeros(2, 3, 4, 5)
    out = torch.full((2, 4, 5, 3), 9, dtype=torch.uint8)
    assert ops.to_uint8_image(y, out=out) is out
    assert torch.equal(out, reference.to_uint8_image(y))


def public_tensor2im(y: np.ndarray) -> np.ndarray:
    """The public pix2pixHD code's util.tensor2im, written out independently: float32
    (y + 1) / 2 * 255, clipped to [0, 255], truncated by the uint8 cast. 3 x H x W in."""
    image = (np.transpose(y.astype(np.float32), (1, 2, 0)) + 1) / 2.0 * 255.0
    image = np.clip(image, 0, 255)
    return image.astype(np.uint8)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_public_rounding_is_the_public_formula_bit_exactly(device, dtype):
    generator = torch.Generator().manual_seed(3)
    random = torch.rand(2, 3, 31, 37, generator=generator) * 2.4 - 1.2
    # Every level k / 255 and the values just around it, where truncation and rounding part.
    levels = torch.arange(256, dtype=torch.float32) / 255 * 2 - 1
    edges = torch.cat([levels, torch.nextafter(levels, levels + 1)])
    edges = torch.cat([edges, torch.nextafter(levels, levels - 1), torch.tensor([5.0, -5.0])])
    edges = edges[: edges.numel() // 3 * 3].view(1, 3, 1, -1)
    for y in (random.to(dtype), edges.to(dtype)):
        result = ops.to_uint8_image(y.to(device), rounding="public").cpu().numpy()
        expected = np.stack([public_tensor2im(image.float().numpy()) for image in y])
        np.testing.assert_array_equal(result, expected)
    nearest = ops.to_uint8_image(random, rounding="nearest")
    assert torch.equal(nearest, reference.to_uint8_image(random))
    public = ops.to_uint8_image(random, rounding="public")
    assert 0 < (nearest.int() - public.int()).abs().sum() and (nearest >= public).all()


def test_public_rounding_reference_and_nan():
    y = torch.tensor([float("nan"), 0.999, -0.999]).view(1, 3, 1, 1)
    assert ops.to_uint8_image(y, rounding="public").flatten().tolist() == [0, 254, 0]
    assert torch.equal(
        ops.to_uint8_image(y, rounding="public"), reference.to_uint8_image(y, rounding="public")
    )
    with pytest.raises(ValueError, match="rounding must be 'nearest' or 'public'"):
        ops.to_uint8_image(y, rounding="floor")
