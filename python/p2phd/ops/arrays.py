# SPDX-License-Identifier: Apache-2.0
"""What every op does with its arrays: numpy or torch on one device (Kind), dtype names,
batching a single image, the checks on `out=` and on integer arguments, the (pointer, dtype,
shape, device) tuples the native module takes, the call into it, and the kernels' error
codes."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import torch

from p2phd import _native

ArrayLike: TypeAlias = np.ndarray | torch.Tensor
DTypeLike: TypeAlias = torch.dtype | np.dtype | type | str

TORCH_DTYPE_NAMES = {
    torch.uint8: "uint8",
    torch.int16: "int16",
    torch.uint16: "uint16",
    torch.int32: "int32",
    torch.int64: "int64",
    torch.float16: "float16",
    torch.bfloat16: "bfloat16",
    torch.float32: "float32",
    torch.float64: "float64",
}
FLOAT_NAMES = ("float32", "float16", "bfloat16")

# Error codes written by the kernels (kernels/common.h, ErrorCode).
_ERROR_MESSAGES = {
    1: "label {value} is outside [0, label_nc)",
    2: "instance id {value} is outside [0, 2**31 - 1]",
    3: "id {value} appears more than once in ids",
    4: "id {value} in ids is outside [0, 2**31 - 1]",
}


@dataclass(frozen=True)
class Kind:
    """Where the arrays of one call live: numpy, or torch on one device."""

    is_torch: bool
    device: torch.device | None
    # The caller's arrays, as given: an `out` must not overlap any of them.
    reads: tuple[ArrayLike, ...] = field(default=(), compare=False)

    @property
    def native_device(self) -> int:
        if self.device is None or self.device.type == "cpu":
            return -1
        if self.device.type != "cuda":
            raise ValueError(f"p2phd ops run on CPU and CUDA, not on {self.device}")
        return self.device.index if self.device.index is not None else torch.cuda.current_device()

    @property
    def is_cuda(self) -> bool:
        return self.native_device >= 0

    @property
    def stream(self) -> int:
        if not self.is_cuda:
            return 0
        return torch.cuda.current_stream(self.device).cuda_stream

    def empty(self, shape: tuple[int, ...], dtype_name: str) -> ArrayLike:
        if self.is_torch:
            return torch.empty(shape, dtype=torch_dtype_named(dtype_name), device=self.device)
        return np.empty(shape, dtype=numpy_dtype_named(dtype_name))

    def zeros(self, shape: tuple[int, ...], dtype_name: str) -> ArrayLike:
        if self.is_torch:
            return torch.zeros(shape, dtype=torch_dtype_named(dtype_name), device=self.device)
        return np.zeros(shape, dtype=numpy_dtype_named(dtype_name))


def kind_of(*arrays: ArrayLike | None) -> Kind:
    present = [a for a in arrays if a is not None]
    kinds = set()
    for array in present:
        if isinstance(array, torch.Tensor):
            kinds.add(("torch", array.device))
        elif isinstance(array, np.ndarray):
            kinds.add(("numpy", None))
        else:
            raise TypeError(f"expected a numpy array or a torch tensor, got {type(array).__name__}")
    if len(kinds) != 1:
        raise ValueError(
            "all inputs must be of the same kind: numpy arrays, or torch tensors on one device; "
            + "got "
            + ", ".join(sorted(f"{k} {d}" if d is not None else k for k, d in kinds))
        )
    kind, device = kinds.pop()
    return Kind(is_torch=kind == "torch", device=device, reads=tuple(present))


def _extent(array: ArrayLike) -> tuple[int, int]:
    """[first, last) byte addresses an array's elements occupy (empty: first == last)."""
    if isinstance(array, torch.Tensor):
        pointer, size, count = array.data_ptr(), array.element_size(), array.numel()
        strides = tuple(stride * size for stride in array.stride())
    else:
        pointer, size, count = array.ctypes.data, array.itemsize, array.size
        strides = array.strides
    if count == 0:
        return pointer, pointer
    low = sum(min(0, (n - 1) * stride) for n, stride in zip(array.shape, strides, strict=True))
    high = sum(max(0, (n - 1) * stride) for n, stride in zip(array.shape, strides, strict=True))
    return pointer + low, pointer + high + size


def require_disjoint(out: ArrayLike, reads: tuple[ArrayLike, ...]) -> None:
    """out may not overlap an input: some ops copy an input first, others read it late."""
    out_first, out_last = _extent(out)
    for array in reads:
        first, last = _extent(array)
        if first < out_last and out_first < last:
            raise ValueError("out shares memory with an input: pass a separate buffer")


def name_of_dtype(dtype: DTypeLike) -> str:
    if isinstance(dtype, torch.dtype):
        if dtype not in TORCH_DTYPE_NAMES:
            raise ValueError(f"unsupported dtype {dtype}")
        return TORCH_DTYPE_NAMES[dtype]
    if isinstance(dtype, str) and dtype in ("bfloat16", "torch.bfloat16"):
        return "bfloat16"
    return np.dtype(dtype).name


def torch_dtype_named(name: str) -> torch.dtype:
    for dtype, dtype_name in TORCH_DTYPE_NAMES.items():
        if dtype_name == name:
            return dtype
    raise ValueError(f"unsupported dtype {name}")


def numpy_dtype_named(name: str) -> np.dtype:
    if name == "bfloat16":
        raise ValueError("numpy has no bfloat16: use float32 or float16, or pass torch tensors")
    return np.dtype(name)


def float_output_name(dtype: DTypeLike) -> str:
    name = name_of_dtype(dtype)
    if name not in FLOAT_NAMES:
        raise ValueError(f"output dtype must be one of {', '.join(FLOAT_NAMES)}, got {name}")
    return name


def as_contiguous(array: ArrayLike) -> ArrayLike:
    """The array in C order and native byte order: itself when it already is, else a copy."""
    if isinstance(array, torch.Tensor):
        return array.detach().contiguous()
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return np.ascontiguousarray(array)


NativeArray: TypeAlias = tuple[int, str, list[int], int]


def native_array(array: ArrayLike, kind: Kind, channels_last: bool = False) -> NativeArray:
    """(pointer, dtype name, shape, device) of a dense array, as _native takes it.

    The native ABI carries no strides: a kernel reads an array as C-contiguous, or as NHWC
    (PyTorch's channels_last) where the op's channels_last flag says so. Any other layout
    (a transposed or sliced view) is refused here, so a wrong caller gets an error rather
    than wrong pixels.
    """
    if isinstance(array, torch.Tensor):
        if array.dtype not in TORCH_DTYPE_NAMES:
            raise ValueError(f"unsupported dtype {array.dtype}")
        layout = torch.channels_last if channels_last else torch.contiguous_format
        if not array.is_contiguous(memory_format=layout):
            expected = "channels_last (NHWC)" if channels_last else "contiguous"
            raise ValueError(
                f"p2phd: an array passed to a native op must be {expected}; got shape "
                f"{tuple(array.shape)} with strides {array.stride()}"
            )
        return (
            array.data_ptr(),
            TORCH_DTYPE_NAMES[array.dtype],
            list(array.shape),
            kind.native_device,
        )
    if channels_last:
        raise ValueError("p2phd: channels_last arrays must be torch tensors")
    if not array.dtype.isnative:
        raise ValueError(f"{array.dtype.str} is not in native byte order")
    if not array.flags.c_contiguous:
        raise ValueError(
            f"p2phd: an array passed to a native op must be C-contiguous; got shape "
            f"{array.shape} with strides {array.strides}"
        )
    return (array.ctypes.data, array.dtype.name, list(array.shape), -1)


def as_batch(array: ArrayLike, name: str, single_ndim: int) -> tuple[ArrayLike, bool]:
    """Adds the batch dimension to a single image; returns (array, was_single)."""
    if array.ndim == single_ndim:
        return as_contiguous(array)[None], True
    if array.ndim == single_ndim + 1:
        return as_contiguous(array), False
    raise ValueError(
        f"{name} must have {single_ndim} (one image) or {single_ndim + 1} (a batch) dimensions, "
        f"got shape {tuple(array.shape)}"
    )


def as_label_batch(labels: ArrayLike, label_nc: int) -> tuple[ArrayLike, bool]:
    """The checks of every op that reads a label map: `label_nc` (the kernels count channels
    in int32), then the [N x] H x W labels, returned as as_batch does: (batch, was_single)."""
    require_positive(label_nc, "label_nc")
    return as_batch(labels, "labels", 2)


class LabelRangeError(ValueError):
    """A label outside [0, label_nc): `label` is the offending value."""

    def __init__(self, message: str, label: int) -> None:
        super().__init__(message)
        self.label = label


def raise_on_error(status: ArrayLike, check: bool, label_nc: int | None = None) -> None:
    """ValueError for the error the kernels flagged in `status` (LabelRangeError for a label,
    naming `label_nc` where given)."""
    if not check:
        return
    values = status.tolist() if isinstance(status, torch.Tensor) else status.tolist()
    code, value = int(values[0]), int(values[1])
    message = _ERROR_MESSAGES.get(code, "error code {value}").format(value=value)
    if code == 1:
        if label_nc is not None:
            message = message.replace("label_nc)", f"{label_nc})")
        raise LabelRangeError(message, value)
    if code:
        raise ValueError(message)


INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
MAX_THREADS = 1024  # as csrc/cpu_parallel.h


def require_int(value: int, name: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")


def require_positive(value: int, name: str) -> None:
    """An integer in [1, 2^31 - 1]: the kernels count channels in int32."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if value > INT32_MAX:
        raise ValueError(f"{name} must be at most 2**31 - 1, got {value}")


def thread_count(threads: int | None) -> int:
    """The CPU thread count of one op: `threads`, or torch's intra-op count when None."""
    if threads is None:
        return max(1, min(torch.get_num_threads(), MAX_THREADS))
    require_int(threads, "threads", 1, MAX_THREADS)
    return int(threads)


# CPU storages found writable, whole (require_writable): gone with the storage.
_WRITABLE_STORAGES: weakref.WeakSet[torch.UntypedStorage] = weakref.WeakSet()


def require_writable(out: ArrayLike) -> None:
    """Refuses an `out` the op may not write: a read-only numpy array, one in foreign byte
    order, or CPU memory that is mapped read-only (a tensor over a read-only file mapping)."""
    if isinstance(out, np.ndarray):
        if not out.flags.writeable:
            raise ValueError("out is read-only")
        if not out.dtype.isnative:
            raise ValueError(f"out must be in native byte order, got {out.dtype.str}")
        pointer, size = out.ctypes.data, out.nbytes
    elif out.device.type == "cpu":
        # Reading /proc/self/maps costs more than many ops, so a storage is asked about once:
        # torch's own resizable allocations (heap or shared memory) never, others (numpy's, a
        # file mapping, or torch's once numpy has viewed them) the first time, whole. A live
        # storage's memory stays mapped as it was.
        storage = out.untyped_storage()
        if storage.resizable() or storage in _WRITABLE_STORAGES:
            return
        if not _native.writable_memory(storage.data_ptr(), storage.nbytes()):
            raise ValueError("out is read-only memory")
        _WRITABLE_STORAGES.add(storage)
        return
    else:
        return
    if not _native.writable_memory(pointer, size):
        raise ValueError("out is read-only memory")


def prepare_output(
    kind: Kind,
    shape: tuple[int, ...],
    dtype_name: str,
    out: ArrayLike | None,
    single: bool,
) -> tuple[ArrayLike, ArrayLike]:
    """(the batched array the kernel writes, the object the op returns): a new array, or the
    caller's `out` (shaped like the result) checked and viewed as a batch. Reusing `out` saves
    the allocation, which on the CPU often costs more than the op (first-touch page faults of
    a 300 MB one-hot)."""
    if out is None:
        batched = kind.empty(shape, dtype_name)
        return batched, (batched[0] if single else batched)
    if kind_of(out) != kind:
        raise ValueError("out must be of the same kind and on the same device as the inputs")
    expected = shape[1:] if single else shape
    if tuple(out.shape) != expected or name_of_dtype(out.dtype) != dtype_name:
        raise ValueError(
            f"out must be {dtype_name} of shape {expected}, got {out.dtype} {tuple(out.shape)}"
        )
    in_c_order = out.is_contiguous() if isinstance(out, torch.Tensor) else out.flags.c_contiguous
    if not in_c_order:
        raise ValueError("out must be contiguous")
    require_writable(out)
    require_disjoint(out, kind.reads)
    return (out[None] if single else out), out


NativeArgument: TypeAlias = ArrayLike | NativeArray | int | float | str | bool | None


def call_native(
    op: Callable[..., None], kind: Kind, *args: NativeArgument, threads: int | None
) -> None:
    """Runs a `_native` op with `args` in its order, then the CPU thread count and the CUDA
    stream, as every op takes them. Arrays are passed as their native_array (C order; pass
    the tuple of native_array(..., channels_last=True) for an NHWC one); numbers, flags,
    strings and None as they are."""
    op(
        *(native_array(arg, kind) if isinstance(arg, ArrayLike) else arg for arg in args),
        thread_count(threads),
        kind.stream,
    )


def call_native_checked(
    op: Callable[..., None],
    kind: Kind,
    *args: NativeArgument,
    threads: int | None,
    check: bool,
    label_nc: int | None = None,
) -> None:
    """call_native for an op that flags invalid input in a status array (its argument after
    `args`), then raise_on_error: with `check`, the error the kernels flagged is raised."""
    status = kind.zeros((2,), "int64")
    call_native(op, kind, *args, status, threads=threads)
    raise_on_error(status, check, label_nc)
