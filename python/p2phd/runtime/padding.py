# SPDX-License-Identifier: Apache-2.0
"""Reflection padding of maps to the sizes a network with a given stride can take."""

from __future__ import annotations

import torch


def padded_size(size: int, stride: int) -> int:
    """The smallest multiple of `stride` that is >= size."""
    return -(-size // stride) * stride


def network_size(size: int, stride: int) -> int:
    """The side a map of `size` is padded to before a network with this total stride: a
    multiple of the stride, and at least 2 * stride (and 4), so that the coarsest feature map
    is 2 x 2 or more (instance norm needs more than one value, reflection padding of 1 needs
    2) and the 7 x 7 convolutions' reflection padding of 3 has 4 rows to reflect."""
    return max(padded_size(size, stride), 2 * stride, 4)


def reflect_indices(size: int, padded: int, device: torch.device) -> torch.Tensor:
    """Source index of every position of a length-`padded` axis grown from `size` by
    reflection at the far end (..., size-2, size-1, size-2, ...), folded as often as needed;
    a length-1 axis repeats its only element."""
    positions = torch.arange(padded, device=device)
    if size == 1:
        return torch.zeros_like(positions)
    period = 2 * (size - 1)
    folded = positions % period
    return torch.where(folded < size, folded, period - folded)


def pad_for_network(maps: torch.Tensor, stride: int) -> torch.Tensor:
    """Pads the last two axes of `maps` by reflection to `network_size` of each."""
    height, width = maps.shape[-2:]
    return pad_to_size(maps, network_size(height, stride), network_size(width, stride))


def pad_to_size(maps: torch.Tensor, padded_height: int, padded_width: int) -> torch.Tensor:
    """Pads the last two axes (H, W) of `maps` by reflection to padded_height x padded_width;
    any dtype, so label and instance maps pad like features. Returns `maps` when nothing to do."""
    height, width = maps.shape[-2:]
    if (padded_height, padded_width) == (height, width):
        return maps
    rows = reflect_indices(height, padded_height, maps.device)
    cols = reflect_indices(width, padded_width, maps.device)
    return maps.index_select(-2, rows).index_select(-1, cols)


def fixed_shape_refusal(
    name: str, fixed_shape: tuple[int, int, int], n: int, height: int, width: int, stride: int
) -> str | None:
    """Why an artifact exported for `fixed_shape` (N, H, W, padded) cannot render N x H x W
    maps, with the export options that fit them; None when they pad to that shape. Padding
    further would change the image (instance norm would see the padding)."""
    padded = (n, network_size(height, stride), network_size(width, stride))
    if padded == fixed_shape:
        return None
    fixed_n, fixed_height, fixed_width = fixed_shape
    fits = [f"--size {padded[1]}x{padded[2]}"] if padded[1:] != (fixed_height, fixed_width) else []
    if n != fixed_n:
        fits.append(f"--batch {n}")
    return (
        f"{name} was exported for {fixed_n} x {fixed_height} x {fixed_width} "
        f"maps, and {n} x {height} x {width} maps would render differently through it; "
        f"export with {' '.join(fits)}, or with --dynamic for any size"
    )
