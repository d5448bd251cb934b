# SPDX-License-Identifier: Apache-2.0
"""Reading label/instance maps and writing images as PNG, with errors that name the file."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from p2phd.atomic import atomic_path

# Single-channel PNG modes: 8-bit grey or palette (labels), 16/32-bit integer (instance ids).
_LABEL_MODES = ("L", "P", "I;16", "I")
_INSTANCE_MODES = ("L", "P", "I;16", "I;16B", "I")


def _read_single_channel(path: str | os.PathLike, what: str, modes: tuple[str, ...]) -> np.ndarray:
    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            if mode not in modes:
                raise ValueError(
                    f"{path}: a {what} must be a single-channel image ({', '.join(modes)}), "
                    f"got mode {mode} (an RGB picture given as a {what}?)"
                )
            array = np.array(image)
    except OSError as error:
        raise ValueError(f"{path}: cannot read the {what}: {error}") from error
    if array.ndim != 2:
        raise ValueError(f"{path}: a {what} must be H x W, got shape {array.shape}")
    # Big-endian 16-bit images (I;16B) come out byte-swapped: give the ids in native order.
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def read_label_map(path: str | os.PathLike) -> np.ndarray:
    """An H x W label map (uint8 for 8-bit PNGs) from a single-channel image file."""
    return _read_single_channel(path, "label map", _LABEL_MODES)


def read_instance_map(path: str | os.PathLike) -> np.ndarray:
    """An H x W instance map (uint16 for Cityscapes' 16-bit *_instanceIds.png) from a file."""
    array = _read_single_channel(path, "instance map", _INSTANCE_MODES)
    return array.astype(np.int32) if array.dtype == np.uint8 else array


def read_photo(path: str | os.PathLike) -> np.ndarray:
    """An H x W x 3 uint8 RGB photo from an image file, converted to RGB as the public
    pix2pixHD data loader does (grey, palette and alpha images included)."""
    try:
        with Image.open(path) as image:
            return np.array(image.convert("RGB"))
    except OSError as error:
        raise ValueError(f"{path}: cannot read the photo: {error}") from error


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Writes an H x W or H x W x 3 uint8 image; the file appears whole or not at all, with
    the mode the umask gives new files."""
    with atomic_path(path) as temporary:
        Image.fromarray(np.ascontiguousarray(image)).save(temporary, format="PNG")
