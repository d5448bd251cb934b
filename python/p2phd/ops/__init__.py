# SPDX-License-Identifier: Apache-2.0
"""The preprocessing and postprocessing ops of pix2pixHD, on numpy arrays or torch tensors.

Every op takes a batch (N x H x W maps, N x K x H x W features) or a single image (H x W,
K x H x W) and returns the same kind of array, batched the same way, on the same device.
The work is done by the native module `p2phd._native` (C++ on the CPU, CUDA on the GPU, on
the caller's current torch stream); `p2phd.reference` holds the slow pure-torch definitions
the kernels are tested against.

Conventions of every op:
- `out=` takes a preallocated result (contiguous, of the result's shape, dtype and device) to
  write into instead of allocating one; the op returns it. It must be writable memory (not a
  read-only numpy array or mapping), in native byte order, and share no memory with an input;
  anything else raises ValueError before a byte is written.
- Inputs that are contiguous, in native byte order and of a supported dtype are used in
  place; others are copied first. All array inputs of one call must be of one kind (all
  numpy, or all torch tensors on one device); anything else raises ValueError.
- Label maps: uint8, int16, uint16, int32 or int64. Instance maps: uint16, int32 or int64.
- `threads=` sets how many CPU threads an op may use (default: torch.get_num_threads());
  CUDA ops ignore it. Ops release the GIL while they run.
- Invalid values (labels outside [0, label_nc), instance ids outside [0, 2^31 - 1] where
  ids are hashed) raise ValueError (LabelRangeError for labels), on CUDA too. On CUDA,
  `check=True` (the default) waits for the kernels to read the error flag; `check=False`
  skips that synchronisation and leaves invalid pixels zero.
"""

from __future__ import annotations

from typing import Any

from p2phd import _native
from p2phd.ops.arrays import ArrayLike, DTypeLike, LabelRangeError
from p2phd.ops.generator_input import generator_input
from p2phd.ops.instance_broadcast import instance_broadcast
from p2phd.ops.instance_class import THING_ID_BASE, instance_class
from p2phd.ops.instance_edges import instance_edges
from p2phd.ops.instance_mean import instance_mean
from p2phd.ops.instance_norm import instance_norm
from p2phd.ops.label_conv import label_conv
from p2phd.ops.layout import is_channels_last
from p2phd.ops.one_hot import one_hot
from p2phd.ops.output_conv import output_conv
from p2phd.ops.to_uint8_image import to_uint8_image

__all__ = [
    "ArrayLike",
    "DTypeLike",
    "LabelRangeError",
    "THING_ID_BASE",
    "build_info",
    "generator_input",
    "instance_broadcast",
    "instance_class",
    "instance_edges",
    "instance_mean",
    "instance_norm",
    "is_channels_last",
    "label_conv",
    "one_hot",
    "output_conv",
    "to_uint8_image",
]


def build_info() -> dict[str, Any]:
    """Whether the CUDA kernels were compiled in, and for which architectures."""
    return dict(_native.build_info())
