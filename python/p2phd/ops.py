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
- Invalid values (labels outside [0, num_classes), instance ids outside [0, 2^31 - 1] where
  ids are hashed) raise ValueError, on CUDA too. On CUDA, `check=True` (the default) waits
  for the kernels to read the error flag; `check=False` skips that synchronisation and
  leaves invalid pixels zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import torch

from p2phd import _native

ArrayLike: TypeAlias = np.ndarray | torch.Tensor
DTypeLike: TypeAlias = torch.dtype | np.dtype | type | str

_TORCH_DTYPE_NAMES = {
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
_FLOAT_NAMES = ("float32", "float16", "bfloat16")

# Error codes written by the kernels (kernels/common.h, ErrorCode).
_ERROR_MESSAGES = {
    1: "label {value} is outside [0, num_classes)",
    2: "instance id {value} is outside [0, 2**31 - 1]",
    3: "id {value} appears more than once in ids",
    4: "id {value} in ids is outside [0, 2**31 - 1]",
}


@dataclass(frozen=True)
class _Kind:
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
            return torch.empty(shape, dtype=_torch_dtype(dtype_name), device=self.device)
        return np.empty(shape, dtype=_numpy_dtype(dtype_name))

    def zeros(self, shape: tuple[int, ...], dtype_name: str) -> ArrayLike:
        if self.is_torch:
            return torch.zeros(shape, dtype=_torch_dtype(dtype_name), device=self.device)
        return np.zeros(shape, dtype=_numpy_dtype(dtype_name))


def _kind_of(*arrays: ArrayLike | None) -> _Kind:
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
    return _Kind(is_torch=kind == "torch", device=device, reads=tuple(present))


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


def _require_disjoint(out: ArrayLike, reads: tuple[ArrayLike, ...]) -> None:
    """out may not overlap an input: some ops copy an input first, others read it late."""
    out_first, out_last = _extent(out)
    for array in reads:
        first, last = _extent(array)
        if first < out_last and out_first < last:
            raise ValueError("out shares memory with an input: pass a separate buffer")


def _dtype_name(dtype: DTypeLike) -> str:
    if isinstance(dtype, torch.dtype):
        if dtype not in _TORCH_DTYPE_NAMES:
            raise ValueError(f"unsupported dtype {dtype}")
        return _TORCH_DTYPE_NAMES[dtype]
    if isinstance(dtype, str) and dtype in ("bfloat16", "torch.bfloat16"):
        return "bfloat16"
    return np.dtype(dtype).name


def _torch_dtype(name: str) -> torch.dtype:
    for dtype, dtype_name in _TORCH_DTYPE_NAMES.items():
        if dtype_name == name:
            return dtype
    raise ValueError(f"unsupported dtype {name}")


def _numpy_dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        raise ValueError("numpy has no bfloat16: use float32 or float16, or pass torch tensors")
    return np.dtype(name)


def _output_float(dtype: DTypeLike) -> str:
    name = _dtype_name(dtype)
    if name not in _FLOAT_NAMES:
        raise ValueError(f"output dtype must be one of {', '.join(_FLOAT_NAMES)}, got {name}")
    return name


def _contiguous(array: ArrayLike) -> ArrayLike:
    """The array in C order and native byte order: itself when it already is, else a copy."""
    if isinstance(array, torch.Tensor):
        return array.detach().contiguous()
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return np.ascontiguousarray(array)


_NativeArray: TypeAlias = tuple[int, str, list[int], int]


def _native_array(array: ArrayLike, kind: _Kind) -> _NativeArray:
    """(pointer, dtype name, shape, device) of a contiguous array, as _native takes it."""
    if isinstance(array, torch.Tensor):
        if array.dtype not in _TORCH_DTYPE_NAMES:
            raise ValueError(f"unsupported dtype {array.dtype}")
        return (
            array.data_ptr(),
            _TORCH_DTYPE_NAMES[array.dtype],
            list(array.shape),
            kind.native_device,
        )
    if not array.dtype.isnative:
        raise ValueError(f"{array.dtype.str} is not in native byte order")
    return (array.ctypes.data, array.dtype.name, list(array.shape), -1)


def _batched(array: ArrayLike, name: str, single_ndim: int) -> tuple[ArrayLike, bool]:
    """Adds the batch dimension to a single image; returns (array, was_single)."""
    if array.ndim == single_ndim:
        return _contiguous(array)[None], True
    if array.ndim == single_ndim + 1:
        return _contiguous(array), False
    raise ValueError(
        f"{name} must have {single_ndim} (one image) or {single_ndim + 1} (a batch) dimensions, "
        f"got shape {tuple(array.shape)}"
    )


def _raise_on_error(status: ArrayLike, check: bool) -> None:
    if not check:
        return
    values = status.tolist() if isinstance(status, torch.Tensor) else status.tolist()
    code, value = int(values[0]), int(values[1])
    if code:
        raise ValueError(_ERROR_MESSAGES.get(code, "error code {value}").format(value=value))


_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1
_MAX_THREADS = 1024  # as csrc/cpu_parallel.h


def _require_int(value: int, name: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")


def _require_positive(value: int, name: str) -> None:
    """An integer in [1, 2^31 - 1]: the kernels count channels in int32."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if value > _INT32_MAX:
        raise ValueError(f"{name} must be at most 2**31 - 1, got {value}")


def _threads(threads: int | None) -> int:
    """The CPU thread count of one op: `threads`, or torch's intra-op count when None."""
    if threads is None:
        return max(1, min(torch.get_num_threads(), _MAX_THREADS))
    _require_int(threads, "threads", 1, _MAX_THREADS)
    return int(threads)


def _require_writable(out: ArrayLike) -> None:
    """Refuses an `out` the op may not write: a read-only numpy array, one in foreign byte
    order, or CPU memory that is mapped read-only (a tensor over a read-only file mapping)."""
    if isinstance(out, np.ndarray):
        if not out.flags.writeable:
            raise ValueError("out is read-only")
        if not out.dtype.isnative:
            raise ValueError(f"out must be in native byte order, got {out.dtype.str}")
        pointer, size = out.ctypes.data, out.nbytes
    elif out.device.type == "cpu":
        pointer, size = out.data_ptr(), out.numel() * out.element_size()
    else:
        return
    if not _native.writable_memory(pointer, size):
        raise ValueError("out is read-only memory")


def _output(
    kind: _Kind,
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
    if _kind_of(out) != kind:
        raise ValueError("out must be of the same kind and on the same device as the inputs")
    expected = shape[1:] if single else shape
    if tuple(out.shape) != expected or _dtype_name(out.dtype) != dtype_name:
        raise ValueError(
            f"out must be {dtype_name} of shape {expected}, got {out.dtype} {tuple(out.shape)}"
        )
    contiguous = out.is_contiguous() if isinstance(out, torch.Tensor) else out.flags.c_contiguous
    if not contiguous:
        raise ValueError("out must be contiguous")
    _require_writable(out)
    _require_disjoint(out, kind.reads)
    return (out[None] if single else out), out


def one_hot(
    labels: ArrayLike,
    num_classes: int,
    dtype: DTypeLike = "float32",
    *,
    out: ArrayLike | None = None,
    check: bool = True,
    threads: int | None = None,
) -> ArrayLike:
    """[N x] H x W labels -> [N x] C x H x W, channel c is 1 where labels == c, else 0."""
    _require_positive(num_classes, "num_classes")
    kind = _kind_of(labels)
    labels, single = _batched(labels, "labels", 2)
    n, h, w = labels.shape
    out, result = _output(kind, (n, num_classes, h, w), _output_float(dtype), out, single)
    status = kind.zeros((2,), "int64")
    _native.one_hot(
        _native_array(labels, kind),
        _native_array(out, kind),
        num_classes,
        _native_array(status, kind),
        _threads(threads),
        kind.stream,
    )
    _raise_on_error(status, check)
    return result


def instance_edges(
    instances: ArrayLike,
    dtype: DTypeLike = "float32",
    *,
    out: ArrayLike | None = None,
    threads: int | None = None,
) -> ArrayLike:
    """[N x] H x W ids -> [N x] 1 x H x W, 1 where a 4-neighbour has another id, else 0."""
    kind = _kind_of(instances)
    instances, single = _batched(instances, "instances", 2)
    n, h, w = instances.shape
    out, result = _output(kind, (n, 1, h, w), _output_float(dtype), out, single)
    _native.instance_edges(
        _native_array(instances, kind), _native_array(out, kind), _threads(threads), kind.stream
    )
    return result


def generator_input(
    labels: ArrayLike,
    instances: ArrayLike | None,
    label_nc: int,
    *,
    features: ArrayLike | None = None,
    dtype: DTypeLike = "float32",
    out: ArrayLike | None = None,
    check: bool = True,
    threads: int | None = None,
) -> ArrayLike:
    """The generator's input, written in one pass: one-hot (label_nc channels), then the
    instance-boundary channel when `instances` is given, then the K channels of `features`
    ([N x] K x H x W, cast to `dtype` first if needed)."""
    _require_positive(label_nc, "label_nc")
    kind = _kind_of(labels, instances, features)
    labels, single = _batched(labels, "labels", 2)
    n, h, w = labels.shape
    out_dtype = _output_float(dtype)
    channels = label_nc
    native_instances = None
    if instances is not None:
        instances, _ = _batched(instances, "instances", 2)
        native_instances = _native_array(instances, kind)
        channels += 1
    native_features = None
    if features is not None:
        features, _ = _batched(features, "features", 3)
        if _dtype_name(features.dtype) != out_dtype:
            features = (
                features.to(_torch_dtype(out_dtype))
                if kind.is_torch
                else features.astype(_numpy_dtype(out_dtype))
            )
        native_features = _native_array(features, kind)
        channels += features.shape[1]
    out, result = _output(kind, (n, channels, h, w), out_dtype, out, single)
    status = kind.zeros((2,), "int64")
    _native.generator_input(
        _native_array(labels, kind),
        native_instances,
        native_features,
        label_nc,
        _native_array(out, kind),
        _native_array(status, kind),
        _threads(threads),
        kind.stream,
    )
    _raise_on_error(status, check)
    return result


def _instance_mean_native(
    features: ArrayLike,
    instances: ArrayLike,
    out: ArrayLike | None,
    check: bool,
    threads: int | None,
) -> ArrayLike:
    kind = _kind_of(features, instances)
    features, single = _batched(features, "features", 3)
    instances, _ = _batched(instances, "instances", 2)
    n, k, h, w = features.shape
    out, result = _output(kind, tuple(features.shape), _dtype_name(features.dtype), out, single)
    workspace = kind.empty((_native.instance_mean_workspace_bytes(n, h, w, k),), "uint8")
    status = kind.zeros((2,), "int64")
    _native.instance_mean(
        _native_array(features, kind),
        _native_array(instances, kind),
        _native_array(out, kind),
        _native_array(workspace, kind),
        _native_array(status, kind),
        _threads(threads),
        kind.stream,
    )
    _raise_on_error(status, check)
    return result


class _InstanceMean(torch.autograd.Function):
    # Averaging over an instance is a symmetric linear map, so its gradient is itself.
    @staticmethod
    def forward(
        ctx: Any, features: torch.Tensor, instances: torch.Tensor, threads: int | None
    ) -> torch.Tensor:
        ctx.save_for_backward(instances)
        ctx.threads = threads
        return _instance_mean_native(features, instances, out=None, check=True, threads=threads)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (instances,) = ctx.saved_tensors
        mean = _instance_mean_native(grad, instances, out=None, check=False, threads=ctx.threads)
        return mean, None, None


def instance_mean(
    features: ArrayLike,
    instances: ArrayLike,
    *,
    out: ArrayLike | None = None,
    check: bool = True,
    threads: int | None = None,
) -> ArrayLike:
    """Instance-wise average pooling: [N x] K x H x W features, [N x] H x W ids -> every pixel
    gets the mean over its instance (in its own image) of each channel, accumulated in float64.

    Differentiable for torch tensors that require grad (then without `out`)."""
    if isinstance(features, torch.Tensor) and features.requires_grad and torch.is_grad_enabled():
        if out is not None:
            raise ValueError("out cannot be used when features require grad")
        return _InstanceMean.apply(features, instances, threads)
    return _instance_mean_native(features, instances, out, check, threads)


def instance_broadcast(
    instances: ArrayLike,
    ids: ArrayLike,
    table: ArrayLike,
    *,
    out: ArrayLike | None = None,
    check: bool = True,
    threads: int | None = None,
) -> ArrayLike:
    """[N x] H x W ids, M ids, M x K table -> [N x] K x H x W: the pixels of instance ids[j] get
    table[j], pixels of ids not listed get zeros. The output has the table's dtype."""
    kind = _kind_of(instances, ids, table)
    instances, single = _batched(instances, "instances", 2)
    ids = _contiguous(ids)
    table = _contiguous(table)
    n, h, w = instances.shape
    if table.ndim != 2:
        raise ValueError(f"table must be M x K, got shape {tuple(table.shape)}")
    if _dtype_name(table.dtype) not in _FLOAT_NAMES:
        raise ValueError(f"table must be one of {', '.join(_FLOAT_NAMES)}, got {table.dtype}")
    out, result = _output(kind, (n, table.shape[1], h, w), _dtype_name(table.dtype), out, single)
    workspace = kind.empty((_native.instance_broadcast_workspace_bytes(ids.shape[0]),), "uint8")
    status = kind.zeros((2,), "int64")
    _native.instance_broadcast(
        _native_array(instances, kind),
        _native_array(ids, kind),
        _native_array(table, kind),
        _native_array(out, kind),
        _native_array(workspace, kind),
        _native_array(status, kind),
        _threads(threads),
        kind.stream,
    )
    _raise_on_error(status, check)
    return result


def to_uint8_image(
    y: ArrayLike,
    *,
    out: ArrayLike | None = None,
    rounding: str = "nearest",
    threads: int | None = None,
) -> ArrayLike:
    """[N x] 3 x H x W generator output in [-1, 1] -> [N x] H x W x 3 uint8 RGB, as
    round(clamp((y + 1) / 2, 0, 1) * 255) with ties to even and NaN -> 0; with
    rounding="public" as the public pix2pixHD code does it, uint8(clip((y + 1) / 2 * 255,
    0, 255)) in float32 (truncated; NaN -> 0)."""
    if rounding not in ("nearest", "public"):
        raise ValueError(f"rounding must be 'nearest' or 'public', got {rounding!r}")
    kind = _kind_of(y)
    y, single = _batched(y, "y", 3)
    n, c, h, w = y.shape
    out, result = _output(kind, (n, h, w, c), "uint8", out, single)
    _native.to_uint8_image(
        _native_array(y, kind), _native_array(out, kind), rounding, _threads(threads), kind.stream
    )
    return result


def _conv_weight(
    weight: ArrayLike, bias: ArrayLike | None, kind: _Kind
) -> tuple[ArrayLike, ArrayLike]:
    """A C_out x C_in x k x k conv weight as the kernels read it, float32 C_in x k x k x C_out
    (a tap's output channels contiguous), and its float32 bias (zeros when None)."""
    if weight.ndim != 4 or weight.shape[-1] != weight.shape[-2]:
        raise ValueError(f"weight must be C_out x C_in x k x k, got shape {tuple(weight.shape)}")
    if _kind_of(weight, bias) != kind:
        raise ValueError("weight and bias must be of the same kind and device as the inputs")
    for name, array in (("weight", weight), ("bias", bias)):
        if array is not None and _dtype_name(array.dtype) not in _TORCH_DTYPE_NAMES.values():
            raise ValueError(f"{name} must be real numbers, got {array.dtype}")
    out_channels = weight.shape[0]
    if isinstance(weight, torch.Tensor):
        taps = weight.detach().permute(1, 2, 3, 0).to(torch.float32).contiguous()
        bias = (
            torch.zeros(out_channels, device=weight.device)
            if bias is None
            else bias.detach().to(torch.float32).contiguous()
        )
    else:
        taps = np.ascontiguousarray(weight.transpose(1, 2, 3, 0), dtype=np.float32)
        bias = (
            np.zeros(out_channels, np.float32)
            if bias is None
            else np.ascontiguousarray(bias, dtype=np.float32)
        )
    return taps, bias


def is_channels_last(array: ArrayLike) -> bool:
    """Whether `array` is an N x C x H x W torch tensor stored NHWC (PyTorch's channels_last)
    rather than NCHW. Where both layouts coincide (C == 1 or H == W == 1) it counts as NCHW."""
    return (
        isinstance(array, torch.Tensor)
        and array.ndim == 4
        and not array.is_contiguous()
        and array.is_contiguous(memory_format=torch.channels_last)
    )


def _in_layout(array: ArrayLike, channels_last: bool) -> ArrayLike:
    if channels_last:
        return array.detach().contiguous(memory_format=torch.channels_last)
    return _contiguous(array)


def _layout_output(
    kind: _Kind,
    shape: tuple[int, ...],
    dtype_name: str,
    out: ArrayLike | None,
    single: bool,
    channels_last: bool,
) -> tuple[ArrayLike, ArrayLike]:
    """_output for N x C x H x W results that may be stored channels_last."""
    if not channels_last:
        return _output(kind, shape, dtype_name, out, single)
    if out is None:
        out = torch.empty(
            shape,
            dtype=_torch_dtype(dtype_name),
            device=kind.device,
            memory_format=torch.channels_last,
        )
        return out, out
    if _kind_of(out) != kind or tuple(out.shape) != shape or _dtype_name(out.dtype) != dtype_name:
        raise ValueError(f"out must be {dtype_name} of shape {shape} on the inputs' device")
    if not out.is_contiguous(memory_format=torch.channels_last):
        raise ValueError("out must be stored channels_last, as the result is")
    _require_writable(out)
    _require_disjoint(out, kind.reads)
    return out, out


def _as_dtype(array: ArrayLike, dtype_name: str, kind: _Kind) -> ArrayLike:
    if _dtype_name(array.dtype) == dtype_name:
        return array
    if kind.is_torch:
        return array.to(_torch_dtype(dtype_name))
    return array.astype(_numpy_dtype(dtype_name))


def _pooled(channels: ArrayLike) -> ArrayLike:
    """pix2pixHD's pyramid downsampling (3 x 3 average, stride 2, padding 1 not counted) of
    N x K x H x W values, computed in float32 and returned as float32 of the same kind."""
    tensor = channels if isinstance(channels, torch.Tensor) else torch.from_numpy(channels)
    n, k, h, w = tensor.shape
    if tensor.numel() == 0:  # avg_pool2d refuses empty channel or spatial dimensions
        pooled = tensor.new_zeros((n, k, (h + 1) // 2, (w + 1) // 2), dtype=torch.float32)
    else:
        pooled = torch.nn.functional.avg_pool2d(
            tensor.float(), 3, stride=2, padding=1, count_include_pad=False
        )
    return pooled if isinstance(channels, torch.Tensor) else pooled.numpy()


def _require_like_labels(channels: ArrayLike, name: str, n: int, h: int, w: int) -> None:
    """N x K x H x W channels of the labels' N, H, W (checked before pooling changes them)."""
    if channels.shape[0] != n or tuple(channels.shape[2:]) != (h, w):
        raise ValueError(
            f"{name} must be N x K x H x W with N, H, W = {n}, {h}, {w} as the labels, "
            f"got shape {tuple(channels.shape)}"
        )


def label_conv(
    labels: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None,
    label_nc: int,
    *,
    edges: ArrayLike | None = None,
    features: ArrayLike | None = None,
    pool: bool = False,
    dtype: DTypeLike = "float32",
    channels_last: bool = False,
    out: ArrayLike | None = None,
    check: bool = True,
    threads: int | None = None,
) -> ArrayLike:
    """The generator's first convolution read straight from the label map: conv2d of the
    reflection-padded (k // 2) input that generator_input would write (one-hot, then the
    [N x] 1 x H x W `edges` if given, then the [N x] K x H x W `features` if given) with a
    C_out x C_in x k x k `weight` (k odd) and `bias`. The one-hot part is a gather of one
    weight column per tap; nothing of size C_in x H x W is ever written. Accumulates in
    float32; returns [N x] C_out x H x W of `dtype`, batched tensors stored channels_last if
    asked.

    With `pool`, the convolution runs on that input average-pooled as pix2pixHD's pyramid
    does (3 x 3, stride 2, padding 1 not counted): the coarse generator's first layer. The
    result is then [N x] C_out x ceil(H / 2) x ceil(W / 2)."""
    _require_positive(label_nc, "label_nc")
    kind = _kind_of(labels, edges, features, weight, bias)
    labels, single = _batched(labels, "labels", 2)
    n, h, w = labels.shape
    out_dtype = _output_float(dtype)
    taps, bias = _conv_weight(weight, bias, kind)
    # The converted arrays stay referenced until the kernel has run.
    native_edges = None
    if edges is not None:
        edges, _ = _batched(edges, "edges", 3)
        _require_like_labels(edges, "edges", n, h, w)
        edges = _as_dtype(_pooled(edges) if pool else edges, out_dtype, kind)
        native_edges = _native_array(edges, kind)
    native_features = None
    if features is not None:
        features, _ = _batched(features, "features", 3)
        _require_like_labels(features, "features", n, h, w)
        features = _as_dtype(_pooled(features) if pool else features, out_dtype, kind)
        native_features = _native_array(features, kind)
    if channels_last and (single or not kind.is_torch):
        raise ValueError("channels_last output needs a batch of torch tensors")
    if pool:
        h, w = (h + 1) // 2, (w + 1) // 2
    shape = (n, taps.shape[-1], h, w)
    out, result = _layout_output(kind, shape, out_dtype, out, single, channels_last)
    status = kind.zeros((2,), "int64")
    _native.label_conv(
        _native_array(labels, kind),
        native_edges,
        native_features,
        label_nc,
        _native_array(taps, kind),
        _native_array(bias, kind),
        _native_array(out, kind),
        pool,
        channels_last,
        _native_array(status, kind),
        _threads(threads),
        kind.stream,
    )
    _raise_on_error(status, check)
    return result


def instance_norm(
    x: ArrayLike,
    *,
    relu: bool = False,
    residual: ArrayLike | None = None,
    pad: int = 0,
    residual_pad: int = 0,
    eps: float = 1e-5,
    out: ArrayLike | None = None,
    threads: int | None = None,
) -> ArrayLike:
    """InstanceNorm of [N x] C x H x W (no affine, biased variance, as nn.InstanceNorm2d),
    then ReLU if `relu`, then plus `residual` (x's shape padded by `residual_pad` on each
    side; its interior is added), written reflection-padded by `pad`: [N x] C x H + 2 pad x
    W + 2 pad in x's dtype. Statistics: each 4096-pixel chunk's (count, mean, M2), in double
    for float32 input (float for fp16/bf16), merged in double with Chan's formula.

    A batch stored channels_last (NHWC) gives a channels_last result; the residual is read
    in that layout too."""
    kind = _kind_of(x, residual)
    channels_last = is_channels_last(x)
    x, single = (x.detach(), False) if channels_last else _batched(x, "x", 3)
    n, c, h, w = x.shape
    native_residual = None
    if residual is not None:
        if residual.ndim != x.ndim - single:
            raise ValueError(f"residual must have {x.ndim - single} dimensions, as x")
        residual = _in_layout(residual[None] if single else residual, channels_last)
        native_residual = _native_array(residual, kind)
    if isinstance(pad, bool) or not isinstance(pad, (int, np.integer)) or not 0 <= pad < min(h, w):
        raise ValueError(f"pad must be in [0, min(H, W)) = [0, {min(h, w)}), got {pad!r}")
    _require_int(residual_pad, "residual_pad", 0, _INT64_MAX)
    dtype_name = _dtype_name(x.dtype)
    shape = (n, c, h + 2 * pad, w + 2 * pad)
    out, result = _layout_output(kind, shape, dtype_name, out, single, channels_last)
    workspace = kind.empty((_native.instance_norm_workspace_bytes(list(x.shape)),), "uint8")
    _native.instance_norm(
        _native_array(x, kind),
        native_residual,
        _native_array(out, kind),
        pad,
        residual_pad,
        relu,
        channels_last,
        eps,
        _native_array(workspace, kind),
        _threads(threads),
        kind.stream,
    )
    return result


def output_conv(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None,
    *,
    out: ArrayLike | None = None,
    threads: int | None = None,
) -> ArrayLike:
    """The generator's last layer as an image: a valid (unpadded) conv2d of [N x] C_in x H x W
    with a C_out x C_in x k x k `weight` (C_out <= 4, k odd) and `bias`, tanh, then uint8 as
    to_uint8_image: [N x] H - k + 1 x W - k + 1 x C_out. Pad x first (instance_norm's `pad`)
    for a same-size output. x may be stored channels_last. Accumulates in float32."""
    kind = _kind_of(x, weight, bias)
    channels_last = is_channels_last(x)
    x, single = (x.detach(), False) if channels_last else _batched(x, "x", 3)
    n, _, h, w = x.shape
    taps, bias = _conv_weight(weight, bias, kind)
    k = taps.shape[1]
    shape = (n, h - k + 1, w - k + 1, taps.shape[-1])
    if min(shape[1:3]) < 1:
        raise ValueError(f"x of {h} x {w} is smaller than the {k} x {k} kernel")
    out, result = _output(kind, shape, "uint8", out, single)
    _native.output_conv(
        _native_array(x, kind),
        _native_array(taps, kind),
        _native_array(bias, kind),
        _native_array(out, kind),
        channels_last,
        _threads(threads),
        kind.stream,
    )
    return result


def build_info() -> dict[str, Any]:
    """Whether the CUDA kernels were compiled in, and for which architectures."""
    return dict(_native.build_info())
