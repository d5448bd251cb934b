# SPDX-License-Identifier: Apache-2.0
"""PNG (and JPEG photo) bytes <-> maps and images, with the server's limits checked before
decoding."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from p2phd.ops import instance_class
from p2phd.serve.errors import ClientError

_LABEL_MODES = ("L", "P", "I;16", "I")
_INSTANCE_MODES = ("L", "P", "I;16", "I;16B", "I")
_PHOTO_MODES = ("RGB", "RGBA")


def _decode(
    data: bytes, what: str, modes: tuple[str, ...], max_side: int, formats: tuple[str, ...]
) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in formats:
                raise ClientError(
                    400, f"the {what} must be a {' or '.join(formats)}, got {image.format}"
                )
            width, height = image.size
            # Checked on the header, before a huge image is decoded.
            if max(width, height) > max_side:
                raise ClientError(
                    413,
                    f"the {what} is {height} x {width}; this server takes at most "
                    f"{max_side} x {max_side}",
                )
            if image.mode not in modes:
                raise ClientError(
                    422,
                    f"the {what} must be a {'colour' if 'RGB' in modes else 'single-channel'} "
                    f"{'/'.join(formats)} ({', '.join(modes)}), got "
                    f"mode {image.mode}",
                )
            image.load()
            return np.array(image)
    except ClientError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ClientError(400, f"the {what} is not a readable PNG: {error}") from None


def decode_labels(data: bytes, label_nc: int, max_side: int) -> np.ndarray:
    """An H x W uint8 label map whose ids all lie in [0, label_nc)."""
    labels = _decode(data, "label map", _LABEL_MODES, max_side, ("PNG",))
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= label_nc):
        bad = int(labels.max()) if int(labels.max()) >= label_nc else int(labels.min())
        raise ClientError(422, f"label {bad} is outside this model's range [0, {label_nc})")
    return labels.astype(np.uint8)


def decode_instances(data: bytes, max_side: int) -> np.ndarray:
    """An H x W int32 instance map (Cityscapes' 16-bit *_instanceIds.png or 8/32-bit)."""
    instances = _decode(data, "instance map", _INSTANCE_MODES, max_side, ("PNG",))
    if instances.size and int(instances.min()) < 0:
        raise ClientError(422, f"instance id {int(instances.min())} is negative")
    return instances.astype(np.int32)


def decode_photo(data: bytes, max_side: int) -> np.ndarray:
    """An H x W x 3 uint8 RGB photo from a PNG or JPEG (an alpha channel is dropped)."""
    photo = _decode(data, "photo", _PHOTO_MODES, max_side, ("PNG", "JPEG"))
    return np.ascontiguousarray(photo[..., :3])


def check_pair(labels: np.ndarray, instances: np.ndarray | None, label_nc: int) -> None:
    """Label and instance maps of one size whose instance ids name classes of the model."""
    if min(labels.shape) < 1:
        raise ClientError(422, "the label map is empty")
    if instances is None:
        return
    if instances.shape != labels.shape:
        raise ClientError(
            422,
            f"the label map is {labels.shape[0]} x {labels.shape[1]} but the instance map "
            f"is {instances.shape[0]} x {instances.shape[1]}",
        )
    # Every id, not only the largest: 999 is class 999, 1000 is class 1.
    ids = np.unique(instances)
    outside = ids[instance_class(ids) >= label_nc]
    if outside.size:
        raise ClientError(
            422, f"instance id {int(outside[0])} names a class outside [0, {label_nc})"
        )


def encode_png(array: np.ndarray, compress_level: int = 1) -> bytes:
    """H x W x 3 uint8, H x W uint8, or H x W uint16 (written as a 16-bit PNG) -> PNG bytes."""
    buffer = io.BytesIO()
    image = Image.fromarray(np.ascontiguousarray(array))
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()
