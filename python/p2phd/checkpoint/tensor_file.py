# SPDX-License-Identifier: Apache-2.0
"""Reading a safetensors file into memory the reader owns.

safetensors' own reader maps the file: the tensors then read the file's pages for as long
as they live, so rewriting the file changes a loaded model and truncating it kills the
process with SIGBUS. Here the file is read once into one writable buffer and every tensor
is a view of that buffer; afterwards nothing depends on the file.
"""

from __future__ import annotations

import json
import math
import os

import torch

__all__ = ["TensorFileError", "read_tensor_file"]

_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
_MAX_HEADER = 100 * 2**20  # safetensors' own limit on the JSON header


class TensorFileError(ValueError):
    """A file that is not a whole safetensors file."""


def read_tensor_file(
    path: str | os.PathLike[str],
) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """(metadata, tensors) of a safetensors file, read into owned memory (never mapped)."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        buffer = bytearray(size)
        read = handle.readinto(buffer)
    if read != size:
        raise TensorFileError(f"read {read} of {size} bytes (changed while reading?)")
    if size < 8:
        raise TensorFileError(f"{size} bytes is too short for a safetensors header")
    header_size = int.from_bytes(buffer[:8], "little")
    if header_size > min(_MAX_HEADER, size - 8):
        raise TensorFileError(f"header of {header_size} bytes in a file of {size}")
    try:
        header = json.loads(bytes(buffer[8 : 8 + header_size]))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TensorFileError(f"header is not JSON: {error}") from error
    if not isinstance(header, dict):
        raise TensorFileError("header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise TensorFileError("__metadata__ is not a table of strings")
    start = 8 + header_size
    tensors = {name: _tensor(buffer, start, name, entry) for name, entry in header.items()}
    return metadata, tensors


def _tensor(buffer: bytearray, start: int, name: str, entry: object) -> torch.Tensor:
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= set(entry):
        raise TensorFileError(f"tensor {name!r}: needs dtype, shape and data_offsets")
    dtype = _DTYPES.get(entry["dtype"])
    shape, offsets = entry["shape"], entry["data_offsets"]
    if dtype is None:
        raise TensorFileError(f"tensor {name!r}: unknown dtype {entry['dtype']!r}")
    if not (isinstance(shape, list) and all(isinstance(s, int) and s >= 0 for s in shape)):
        raise TensorFileError(f"tensor {name!r}: bad shape {shape!r}")
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(isinstance(o, int) for o in offsets)
        and 0 <= offsets[0] <= offsets[1] <= len(buffer) - start
    ):
        raise TensorFileError(f"tensor {name!r}: data offsets {offsets!r} outside the file")
    count = math.prod(shape)
    itemsize = torch.empty((), dtype=dtype).element_size()
    if (offsets[1] - offsets[0]) != count * itemsize:
        raise TensorFileError(f"tensor {name!r}: {offsets[1] - offsets[0]} bytes for {shape}")
    if count == 0:
        return torch.empty(shape, dtype=dtype)
    flat = torch.frombuffer(buffer, dtype=dtype, count=count, offset=start + offsets[0])
    return flat.reshape(shape)
