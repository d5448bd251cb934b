# SPDX-License-Identifier: Apache-2.0
"""What render() takes, checked and turned into tensors: label and instance maps, photos."""

from __future__ import annotations

import numpy as np
import torch

from p2phd import ops

ArrayLike = np.ndarray | torch.Tensor
INTEGER_DTYPES = (torch.uint8, torch.int16, torch.uint16, torch.int32, torch.int64)


def as_tensor(array: ArrayLike, name: str) -> torch.Tensor:
    if isinstance(array, np.ndarray):
        if not array.dtype.isnative:  # e.g. a big-endian 16-bit TIFF: swap to this machine's
            array = array.astype(array.dtype.newbyteorder("="))
        return torch.from_numpy(np.ascontiguousarray(array))
    if isinstance(array, torch.Tensor):
        return array
    raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(array).__name__}")


def batched_maps(maps: torch.Tensor, name: str) -> tuple[torch.Tensor, bool]:
    if maps.dtype not in INTEGER_DTYPES:
        raise ValueError(f"{name} must be an integer map (uint8 ... int64), got {maps.dtype}")
    if maps.ndim == 3 and maps.shape[-1] in (3, 4) and min(maps.shape[:2]) >= 16:
        raise ValueError(
            f"{name} has shape {tuple(maps.shape)}, which looks like an RGB image; pass an "
            "H x W (or N x H x W) map of ids"
        )
    if maps.ndim == 2:
        return maps[None], True
    if maps.ndim == 3:
        return maps, False
    raise ValueError(f"{name} must be H x W or N x H x W, got shape {tuple(maps.shape)}")


def photo_tensor(image: ArrayLike, shape: tuple[int, int, int]) -> torch.Tensor:
    """A photo for the encoder: uint8 [N x] H x W x 3, or float [N x] 3 x H x W in [-1, 1]."""
    tensor = as_tensor(image, "features_from")
    n, h, w = shape
    rgb = tensor.ndim in (3, 4) and (
        tensor.shape[-1] == 3 if tensor.dtype == torch.uint8 else tensor.shape[-3] == 3
    )
    if not rgb:
        layout = "H x W x 3 uint8" if tensor.dtype == torch.uint8 else "3 x H x W float"
        raise ValueError(
            f"features_from must be an RGB photo ({layout}) of the maps' size {h} x {w}, got "
            f"shape {tuple(tensor.shape)}"
        )
    if tensor.dtype == torch.uint8:
        if tensor.ndim == 3:
            tensor = tensor[None]
        tensor = tensor.permute(0, 3, 1, 2).float() / 127.5 - 1
    elif not tensor.is_floating_point():
        raise ValueError(f"features_from must be uint8 or float, got {tensor.dtype}")
    elif tensor.ndim == 3:
        tensor = tensor[None]
    if tuple(tensor.shape) != (n, 3, h, w):
        raise ValueError(
            f"features_from must be an RGB photo of the maps' size {h} x {w}, got shape "
            f"{tuple(image.shape)}"
        )
    if not torch.isfinite(tensor).all():
        raise ValueError("features_from contains NaN or infinity")
    return tensor.float()


def check_label_range(labels: torch.Tensor, label_nc: int) -> None:
    """ops.LabelRangeError unless every label lies in [0, label_nc)."""
    low, high = (int(value) for value in torch.aminmax(labels))
    if low < 0 or high >= label_nc:
        bad = low if low < 0 else high
        raise ops.LabelRangeError(f"labels must lie in [0, {label_nc}): got {bad}", bad)
