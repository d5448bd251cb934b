# SPDX-License-Identifier: Apache-2.0
"""Export a pix2pixHD generator to TorchScript, ONNX or a TensorRT engine, with a JSON sidecar.

Every artifact gets `<artifact>.json` beside it, which is all a `Runtime` needs to drive it:

    {"format": "onnx", "config": GeneratorConfig.to_dict(), "with_preprocess": false,
     "precision": "fp32", "inputs": [{"name": "input", "dtype": "float32",
     "shape": ["batch", 36, "height", "width"]}], "outputs": [...],
     "shape_range": {"min": [N, H, W], "opt": [...], "max": [...]} or null,
     "versions": {...}, "weights_sha256": "...", "compute_capability": "8.6" or null}

Input/output layout:

- plain: `input` N x input_nc x H x W (float32, or float16 for fp16) -> `output` N x 3 x H x W
  in [-1, 1], of the same dtype.
- `with_preprocess=True`: `labels` int32 N x H x W, `instances` int32 N x H x W (when the
  model uses instances), `features` float32 N x feat_num x H x W (feature models: the
  per-instance features already broadcast to pixels) -> `image` uint8 N x H x W x 3. One-hot,
  instance edges and the uint8 conversion run inside the graph, the uint8 cast as its last op
  (TensorRT accepts UINT8 only on network inputs and outputs). A graph cannot raise: labels
  outside [0, label_nc) give all-zero one-hot pixels, so callers validate labels first.

FP16 exports hold float16 weights and activations, except that every InstanceNormalization
runs in float32 between two casts: its variance sums squares of activations that can exceed
the float16 range (65504) in deep layers, and the casts are cheap next to the convolutions.

Artifacts are written under a temporary name in the destination directory, verified there,
and only then renamed into place, so a failed or interrupted export leaves nothing at `out`.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import __version__
from .checkpoint import LoadedModel, load
from .models.config import GeneratorConfig

__all__ = [
    "DEFAULT_SIZE",
    "FORMATS",
    "OPSET",
    "PRECISIONS",
    "ExportError",
    "ExportResult",
    "ExportUsageError",
    "Verification",
    "VerificationError",
    "export",
    "import_tensorrt",
    "read_sidecar",
    "sidecar_path",
]

FORMATS = ("torchscript", "onnx", "engine")
PRECISIONS = ("fp32", "fp16")
OPSET = 17
DEFAULT_SIZE = (1024, 2048)
EXTENSIONS = {"torchscript": ".pt", "onnx": ".onnx", "engine": ".engine"}
FP32_MAX_ABS = 1e-4  # float output in [-1, 1]
FP32_MAX_ABS_UINT8 = 1  # uint8 output: a float difference of 1e-6 can still cross a .5 tie
FP16_MIN_PSNR = 40.0
RTX_INSTALL = "pip install tensorrt-rtx-cu13-bindings tensorrt-rtx-cu13-libs"

Progress = Callable[[str], None]


class ExportError(RuntimeError):
    """An export that failed: a missing tool, a builder error, a failed verification."""


class ExportUsageError(ExportError, ValueError):
    """Arguments that cannot describe an export (a size off the stride, an unknown format)."""


class VerificationError(ExportError):
    """The artifact ran but disagrees with the torch model beyond the precision's tolerance."""

    def __init__(self, message: str, verification: Verification) -> None:
        super().__init__(message)
        self.verification = verification


@dataclass
class Verification:
    """One comparison of an artifact against the torch model on a synthetic scene."""

    backend: str  # "torch", "onnxruntime" or "tensorrt"
    skipped: str | None = None  # why it did not run; None when it ran
    max_abs_error: float | None = None  # in output units: [-1, 1] floats or uint8 levels
    psnr_db: float | None = None  # on the image scaled to [0, 1]; inf when identical
    tolerance: str = ""
    passed: bool | None = None

    def describe(self) -> str:
        if self.skipped is not None:
            return f"verify {self.backend}: skipped ({self.skipped})"
        verdict = "ok" if self.passed else "FAILED"
        return (
            f"verify {self.backend}: max abs error {self.max_abs_error:.3g}, "
            f"PSNR {self.psnr_db:.1f} dB ({self.tolerance}) {verdict}"
        )


@dataclass
class ExportResult:
    """Where the artifact went and what it is."""

    path: Path
    sidecar_path: Path
    sidecar: dict[str, Any]
    verifications: list[Verification] = field(default_factory=list)
    timing_cache_path: Path | None = None
    triton_model_dir: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def format(self) -> str:
        return self.sidecar["format"]


def sidecar_path(artifact: str | os.PathLike[str]) -> Path:
    """`model.onnx` -> `model.onnx.json`."""
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".json")


def read_sidecar(artifact: str | os.PathLike[str]) -> dict[str, Any]:
    """The sidecar of an artifact (give the artifact's path, not the sidecar's)."""
    return json.loads(sidecar_path(artifact).read_text())


# --------------------------------------------------------------------------------------------
# Modules that are traced
# --------------------------------------------------------------------------------------------


class _Float32InstanceNorm(nn.Module):
    """InstanceNorm2d (no affine, no running stats) computed in float32 whatever the input."""

    def __init__(self, eps: float) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x.float(), eps=self.eps).to(x.dtype)


def _half_generator(generator: nn.Module) -> nn.Module:
    """A float16 copy whose instance norms run in float32."""
    half = copy.deepcopy(generator).half().eval()
    for module in list(half.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.InstanceNorm2d):
                if child.affine or child.track_running_stats:
                    raise ExportUsageError("only InstanceNorm2d without affine/stats is supported")
                setattr(module, name, _Float32InstanceNorm(child.eps))
    return half


class GeneratorInput(nn.Module):
    """In-graph `ops.generator_input`: one-hot (Equal against a range), edges, features.

    labels, instances: int32 N x H x W; features: N x K x H x W. Exports to Equal, Cast,
    Slice, Not, Or, Pad and Concat only.
    """

    def __init__(self, config: GeneratorConfig, dtype: torch.dtype) -> None:
        super().__init__()
        self.label_nc = config.label_nc
        self.use_instance = config.use_instance
        self.feature_nc = config.feature_nc
        self.dtype = dtype
        classes = torch.arange(config.label_nc, dtype=torch.int32).view(1, -1, 1, 1)
        self.register_buffer("classes", classes, persistent=False)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        labels, rest = inputs[0], list(inputs[1:])
        parts = [(labels.unsqueeze(1) == self.classes).to(self.dtype)]
        if self.use_instance:
            ids = rest.pop(0).unsqueeze(1)
            horizontal = ids[:, :, :, 1:] != ids[:, :, :, :-1]  # N x 1 x H x W-1
            vertical = ids[:, :, 1:, :] != ids[:, :, :-1, :]  # N x 1 x H-1 x W
            edges = (
                F.pad(horizontal, (1, 0))
                | F.pad(horizontal, (0, 1))
                | F.pad(vertical, (0, 0, 1, 0))
                | F.pad(vertical, (0, 0, 0, 1))
            )
            parts.append(edges.to(self.dtype))
        if self.feature_nc:
            parts.append(rest.pop(0).to(self.dtype))
        return torch.cat(parts, dim=1)


class ToUint8Image(nn.Module):
    """In-graph `ops.to_uint8_image`: N x 3 x H x W -> uint8 N x H x W x 3, the cast last."""

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        t = (y.float() + 1) / 2
        t = torch.where(torch.isnan(t), torch.zeros_like(t), t).clamp(0, 1)
        t = torch.round(t * 255).permute(0, 2, 3, 1)
        return t.to(torch.uint8)


class PreprocessedGenerator(nn.Module):
    """labels (+ instances) (+ features) -> uint8 image, all in one graph."""

    def __init__(self, generator: nn.Module, config: GeneratorConfig, dtype: torch.dtype) -> None:
        super().__init__()
        self.prepare = GeneratorInput(config, dtype)
        self.generator = generator
        self.finish = ToUint8Image()

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.finish(self.generator(self.prepare(*inputs)))


# --------------------------------------------------------------------------------------------
# Shapes and IO description
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Shapes:
    batch: int  # fixed batch, or the largest batch of a dynamic export
    size: tuple[int, int]  # fixed size, or the optimum of a dynamic export
    dynamic: bool
    min_size: tuple[int, int]
    max_size: tuple[int, int]

    def shape_range(self) -> dict[str, list[int]] | None:
        if not self.dynamic:
            return None
        return {
            "min": [1, *self.min_size],
            "opt": [1, *self.size],
            "max": [self.batch, *self.max_size],
        }


@dataclass(frozen=True)
class _Tensor:
    name: str
    dtype: str
    layout: str  # "nchw", "nhw", "nhwc"
    channels: int | None = None

    def shape(self, n: Any, h: Any, w: Any) -> list[Any]:
        if self.layout == "nchw":
            return [n, self.channels, h, w]
        if self.layout == "nhwc":
            return [n, h, w, self.channels]
        return [n, h, w]

    def dynamic_axes(self) -> dict[int, str]:
        if self.layout == "nchw":
            return {0: "batch", 2: "height", 3: "width"}
        return {0: "batch", 1: "height", 2: "width"}

    def describe(self, shapes: _Shapes) -> dict[str, Any]:
        if shapes.dynamic:
            shape = self.shape("batch", "height", "width")
        else:
            shape = self.shape(shapes.batch, *shapes.size)
        return {"name": self.name, "dtype": self.dtype, "shape": shape}


def _io(config: GeneratorConfig, precision: str, with_preprocess: bool):
    if not with_preprocess:
        dtype = "float16" if precision == "fp16" else "float32"
        return (
            [_Tensor("input", dtype, "nchw", config.input_nc)],
            [_Tensor("output", dtype, "nchw", config.output_nc)],
        )
    inputs = [_Tensor("labels", "int32", "nhw")]
    if config.use_instance:
        inputs.append(_Tensor("instances", "int32", "nhw"))
    if config.feature_nc:
        inputs.append(_Tensor("features", "float32", "nchw", config.feature_nc))
    return inputs, [_Tensor("image", "uint8", "nhwc", config.output_nc)]


def _round_size(size: tuple[int, int], stride: int) -> tuple[int, int]:
    return tuple(max(2 * stride, stride * round(s / stride)) for s in size)  # type: ignore[return-value]


def _check_size(size: tuple[int, int], stride: int, what: str) -> tuple[int, int]:
    h, w = (int(s) for s in size)
    if h % stride or w % stride:
        raise ExportUsageError(
            f"{what} {h}x{w} is not a multiple of the generator's stride {stride} in both "
            f"height and width (try {_round_size((h, w), stride)[0]}x"
            f"{_round_size((h, w), stride)[1]})"
        )
    if h < 2 * stride or w < 2 * stride:
        raise ExportUsageError(
            f"{what} {h}x{w} is too small: the generator needs at least {2 * stride} pixels "
            "in each direction (two pixels at its coarsest scale)"
        )
    return h, w


def _resolve_shapes(
    config: GeneratorConfig,
    size: tuple[int, int] | None,
    dynamic: bool,
    batch: int,
    min_size: tuple[int, int] | None,
    max_size: tuple[int, int] | None,
) -> _Shapes:
    stride = config.downsampling
    if batch < 1:
        raise ExportUsageError(f"batch must be >= 1, got {batch}")
    if size is None:
        size = _round_size(DEFAULT_SIZE, stride)
    size = _check_size(size, stride, "size")
    if not dynamic:
        if min_size is not None or max_size is not None:
            raise ExportUsageError("min_size and max_size need dynamic=True")
        return _Shapes(batch, size, False, size, size)
    lo = _check_size(min_size, stride, "min size") if min_size else (2 * stride, 2 * stride)
    hi = _check_size(max_size, stride, "max size") if max_size else size
    if not (lo[0] <= size[0] <= hi[0] and lo[1] <= size[1] <= hi[1]):
        raise ExportUsageError(
            f"need min size {lo[0]}x{lo[1]} <= size {size[0]}x{size[1]} <= max size {hi[0]}x{hi[1]}"
        )
    return _Shapes(batch, size, True, lo, hi)


# --------------------------------------------------------------------------------------------
# Samples and references
# --------------------------------------------------------------------------------------------


def _scene(config: GeneratorConfig, batch: int, size: tuple[int, int], seed: int = 0):
    """int32 labels, instances and float32 features for a batch of synthetic scenes."""
    from .data.synthetic import synthetic_scene

    labels, instances = [], []
    for i in range(batch):
        scene = synthetic_scene(seed + i, max(size[0], 16), max(size[1], 16))
        labels.append(scene.labels[: size[0], : size[1]].astype(np.int32) % config.label_nc)
        instances.append(scene.instances[: size[0], : size[1]].astype(np.int32))
    label_map = torch.from_numpy(np.stack(labels))
    instance_map = torch.from_numpy(np.stack(instances))
    features = None
    if config.feature_nc:
        # A feature vector per instance, broadcast over its pixels, like a Runtime would.
        generator = torch.Generator().manual_seed(seed)
        ids, inverse = torch.unique(instance_map, return_inverse=True)
        table = torch.randn(ids.numel(), config.feature_nc, generator=generator)
        features = table[inverse].permute(0, 3, 1, 2).contiguous()
    return label_map, instance_map, features


def _generator_input(config: GeneratorConfig, labels, instances, features) -> torch.Tensor:
    from . import ops

    return ops.generator_input(
        labels, instances if config.use_instance else None, config.label_nc, features=features
    )


def _sample(config: GeneratorConfig, inputs: Sequence[_Tensor], batch, size, seed=0):
    """(named artifact inputs, torch reference input x in float32)."""
    labels, instances, features = _scene(config, batch, size, seed)
    x = _generator_input(config, labels, instances, features)
    named: dict[str, torch.Tensor] = {}
    for tensor in inputs:
        if tensor.name == "labels":
            named["labels"] = labels
        elif tensor.name == "instances":
            named["instances"] = instances
        elif tensor.name == "features":
            named["features"] = features
        else:
            named["input"] = x.to(torch.float16 if tensor.dtype == "float16" else torch.float32)
    return named, x


def _reference(generator: nn.Module, x: torch.Tensor, with_preprocess: bool) -> torch.Tensor:
    from . import ops

    with torch.inference_mode():
        y = generator(x)
    return ops.to_uint8_image(y) if with_preprocess else y


def _compare(
    backend: str,
    got: np.ndarray,
    expected: torch.Tensor,
    precision: str,
    with_preprocess: bool,
    tolerance_value: float | None = None,
) -> Verification:
    got64 = np.asarray(got, dtype=np.float64)
    exp64 = expected.detach().cpu().double().numpy()
    if got64.shape != exp64.shape:
        return Verification(
            backend,
            max_abs_error=math.inf,
            psnr_db=-math.inf,
            tolerance=f"shape {list(got64.shape)} != {list(exp64.shape)}",
            passed=False,
        )
    diff = np.abs(got64 - exp64)
    max_abs = float(np.nan_to_num(diff, nan=np.inf).max()) if diff.size else 0.0
    scale = 255.0 if with_preprocess else 2.0  # to [0, 1]
    mse = float(np.mean((diff / scale) ** 2)) if diff.size else 0.0
    psnr = math.inf if mse == 0 else 10 * math.log10(1.0 / mse)
    if math.isnan(psnr):
        psnr = -math.inf
    if precision == "fp16":
        limit = FP16_MIN_PSNR if tolerance_value is None else tolerance_value
        tolerance, passed = f"PSNR >= {limit:g} dB", psnr >= limit
    else:
        default = FP32_MAX_ABS_UINT8 if with_preprocess else FP32_MAX_ABS
        limit = default if tolerance_value is None else tolerance_value
        tolerance, passed = f"max abs <= {limit:g}", max_abs <= limit
    return Verification(backend, None, max_abs, psnr, tolerance, bool(passed))


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _temporary(path: Path) -> Iterator[Path]:
    """A temp name beside `path` that is removed unless the caller renamed it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would follow the file into place
    try:
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    with _temporary(path) as tmp:
        tmp.write_bytes(data)
        os.replace(tmp, path)


def _weights_sha256(generator: nn.Module) -> str:
    """sha256 over the generator state dict: key, dtype, shape and bytes, in key order."""
    digest = hashlib.sha256()
    state = generator.state_dict()
    for key in sorted(state):
        value = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{value.dtype}|{list(value.shape)}|".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _versions(trt_module: Any = None) -> dict[str, str | None]:
    try:
        import onnx

        onnx_version: str | None = onnx.__version__
    except ImportError:
        onnx_version = None
    return {
        "p2phd": __version__,
        "torch": torch.__version__,
        "onnx": onnx_version,
        "tensorrt": None if trt_module is None else trt_module.__version__,
        "tensorrt_module": None if trt_module is None else _trt_module_name(trt_module),
    }


# --------------------------------------------------------------------------------------------
# TorchScript and ONNX
# --------------------------------------------------------------------------------------------


def _traced_module(
    generator: nn.Module, config: GeneratorConfig, precision: str, with_preprocess: bool
) -> nn.Module:
    if precision == "fp16":
        generator = _half_generator(generator)
    dtype = torch.float16 if precision == "fp16" else torch.float32
    if with_preprocess:
        return PreprocessedGenerator(generator, config, dtype).eval()
    return generator.eval()


def _export_torchscript(module: nn.Module, example: tuple[torch.Tensor, ...], path: Path) -> None:
    import warnings

    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings and the TorchScript deprecation note
        traced = torch.jit.trace(module, example, check_trace=False)
        traced = torch.jit.freeze(traced.eval())
        torch.jit.save(traced, str(path))


def _export_onnx(
    module: nn.Module,
    example: tuple[torch.Tensor, ...],
    path: Path,
    inputs: Sequence[_Tensor],
    outputs: Sequence[_Tensor],
    shapes: _Shapes,
    opset: int,
    metadata: Mapping[str, str],
) -> None:
    import warnings

    import onnx

    # Always exported with dynamic axes, so that nothing of the (small) trace size is folded
    # into the graph; a fixed-shape export then pins its IO dims below.
    dynamic_axes = {t.name: t.dynamic_axes() for t in (*inputs, *outputs)}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation note
        torch.onnx.export(
            module,
            example,
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=[t.name for t in inputs],
            output_names=[t.name for t in outputs],
            dynamic_axes=dynamic_axes,
            do_constant_folding=True,
        )
    model = onnx.load(str(path))
    # The exporter's shape inference loses track through the reflection pads and names
    # output dims like 'Tanhoutput_dim_0' (even for fixed shapes, and the same name for batch
    # and height): state the IO shapes we know, and drop its intermediate guesses.
    del model.graph.value_info[:]
    for value, tensor in zip(
        (*model.graph.input, *model.graph.output), (*inputs, *outputs), strict=True
    ):
        dims = value.type.tensor_type.shape.dim
        del dims[:]
        for d in tensor.describe(shapes)["shape"]:
            dim = dims.add()
            if isinstance(d, str):
                dim.dim_param = d
            else:
                dim.dim_value = d
    model.producer_name = "p2phd"
    model.producer_version = __version__
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    onnx.checker.check_model(str(path), full_check=True)


def _run_torchscript(path: Path, named: Mapping[str, torch.Tensor]) -> np.ndarray:
    module = torch.jit.load(str(path), map_location="cpu")
    with torch.inference_mode():
        out = module(*named.values())
    return out.float().numpy() if out.dtype != torch.uint8 else out.numpy()


def _run_onnxruntime(path: Path, named: Mapping[str, torch.Tensor]) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feeds = {name: value.numpy() for name, value in named.items()}
    return session.run(None, feeds)[0]


# --------------------------------------------------------------------------------------------
# TensorRT
# --------------------------------------------------------------------------------------------


def import_tensorrt() -> Any:
    """`tensorrt` when importable, else TensorRT for RTX; ExportError naming what to install."""
    errors = []
    for name in ("tensorrt", "tensorrt_rtx", "tensorrt_rtx_bindings"):
        try:
            return __import__(name)
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
    raise ExportError(
        "building an engine needs TensorRT: install TensorRT for RTX "
        f"(`{RTX_INSTALL}`, builds ahead of time for a chosen --compute-capability without "
        "a GPU) or TensorRT (module `tensorrt`, builds for the local GPU); import errors: "
        + "; ".join(errors)
    )


def _trt_module_name(trt: Any) -> str:
    return "tensorrt" if trt.__name__ == "tensorrt" else "tensorrt_rtx"


def _is_rtx(trt: Any) -> bool:
    return _trt_module_name(trt) == "tensorrt_rtx"


def parse_compute_capability(text: str) -> str:
    """'8.6', '86', 'sm_86' or 'sm86' -> '8.6'; '12.0' / '120' -> '12.0'."""
    t = text.strip().lower().removeprefix("sm_").removeprefix("sm")
    m = re.fullmatch(r"(\d+)\.(\d)", t) or re.fullmatch(r"(\d+)(\d)", t)
    if not m:
        raise ExportUsageError(f"compute capability must look like 8.6, got {text!r}")
    return f"{int(m.group(1))}.{m.group(2)}"


def _rtx_capability(trt: Any, cc: str) -> Any:
    name = "SM" + cc.replace(".", "")
    value = getattr(trt.ComputeCapability, name, None)
    if value is None:
        known = sorted(
            k[2:-1] + "." + k[-1]
            for k in dir(trt.ComputeCapability)
            if k.startswith("SM") and k[2:].isdigit()
        )
        raise ExportUsageError(
            f"TensorRT for RTX {trt.__version__} cannot target compute capability {cc}; it "
            f"knows {', '.join(known)}"
        )
    return value


_TRT_DTYPES = {
    "FLOAT": "float32",
    "HALF": "float16",
    "INT32": "int32",
    "INT64": "int64",
    "UINT8": "uint8",
    "INT8": "int8",
    "BOOL": "bool",
    "BF16": "bfloat16",
}


def _network_io(network: Any, tensors: Sequence[_Tensor], getter: str, count: str):
    """[{"name", "dtype", "shape"}] of the parsed network, dynamic dims named like ONNX's."""
    described = []
    for i in range(getattr(network, count)):
        tensor = getattr(network, getter)(i)
        spec = next((t for t in tensors if t.name == tensor.name), None)
        axes = spec.dynamic_axes() if spec is not None else {}
        shape = [
            axes.get(d, "dynamic") if int(v) < 0 else int(v) for d, v in enumerate(tensor.shape)
        ]
        dtype = _TRT_DTYPES.get(tensor.dtype.name, tensor.dtype.name.lower())
        described.append({"name": tensor.name, "dtype": dtype, "shape": shape})
    return described


class _Monitor:
    """A TensorRT progress monitor that prints phase starts and ends (nested by indent)."""

    @staticmethod
    def create(trt: Any, progress: Progress) -> Any:
        class Monitor(trt.IProgressMonitor):
            def __init__(self) -> None:
                trt.IProgressMonitor.__init__(self)
                self.depth: dict[str, int] = {}
                self.started: dict[str, float] = {}

            def phase_start(self, phase_name, parent_phase, num_steps):
                depth = self.depth.get(parent_phase, 0) + 1 if parent_phase else 1
                self.depth[phase_name] = depth
                self.started[phase_name] = time.perf_counter()
                if depth <= 2:
                    progress(f"{'  ' * depth}{phase_name} ({num_steps} steps)")

            def step_complete(self, phase_name, step):
                return True

            def phase_finish(self, phase_name):
                depth = self.depth.pop(phase_name, 1)
                seconds = time.perf_counter() - self.started.pop(phase_name, time.perf_counter())
                if depth <= 1:
                    progress(f"{'  ' * depth}{phase_name} done in {seconds:.1f} s")

        return Monitor()


def _build_engine(
    onnx_path: Path,
    engine_tmp: Path,
    cache_path: Path,
    inputs: Sequence[_Tensor],
    outputs: Sequence[_Tensor],
    shapes: _Shapes,
    precision: str,
    compute_capabilities: Sequence[str],
    workspace_mib: int | None,
    progress: Progress,
) -> tuple[Any, list[dict], list[dict], bytes]:
    trt = import_tensorrt()
    rtx = _is_rtx(trt)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    strongly_typed = hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")
    if strongly_typed:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    progress(f"parsing {onnx_path.name} with {_trt_module_name(trt)} {trt.__version__}")
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ExportError("TensorRT could not parse the ONNX graph: " + "; ".join(errors))
    config = builder.create_builder_config()
    if precision == "fp16" and not strongly_typed:
        config.set_flag(trt.BuilderFlag.FP16)  # full TensorRT without strong typing
    if precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)  # on by default; 10-bit mantissas are not fp32
    if workspace_mib is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    if compute_capabilities:
        if not rtx:
            raise ExportUsageError(
                "--compute-capability needs TensorRT for RTX; TensorRT builds for the local GPU"
            )
        config.num_compute_capabilities = len(compute_capabilities)
        for i, cc in enumerate(compute_capabilities):
            config.set_compute_capability(_rtx_capability(trt, cc), i)
    if shapes.dynamic:
        profile = builder.create_optimization_profile()
        rng = shapes.shape_range()
        assert rng is not None
        for tensor in inputs:
            profile.set_shape(
                tensor.name,
                tensor.shape(*rng["min"]),
                tensor.shape(*rng["opt"]),
                tensor.shape(*rng["max"]),
            )
        config.add_optimization_profile(profile)
    cache_bytes = cache_path.read_bytes() if cache_path.is_file() else b""
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=True)
    config.progress_monitor = _Monitor.create(trt, progress)
    progress("building the engine")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ExportError("TensorRT failed to build the engine (see its messages above)")
    with open(engine_tmp, "wb") as handle:
        handle.write(memoryview(serialized))
    cache_out = bytes(memoryview(config.get_timing_cache().serialize()))
    io_in = _network_io(network, inputs, "get_input", "num_inputs")
    io_out = _network_io(network, outputs, "get_output", "num_outputs")
    return trt, io_in, io_out, cache_out


_TORCH_DTYPES = {
    "float32": torch.float32,
    "float16": torch.float16,
    "int32": torch.int32,
    "uint8": torch.uint8,
}


def _run_engine(
    trt: Any, path: Path, named: Mapping[str, torch.Tensor], capabilities: Sequence[str]
) -> np.ndarray | str:
    """The engine's first output on the sample, or why it cannot run here."""
    if not torch.cuda.is_available():
        return "no CUDA GPU visible to torch"
    major, minor = torch.cuda.get_device_capability()
    here = f"{major}.{minor}"
    if capabilities and here not in capabilities:
        return f"built for compute capability {', '.join(capabilities)}, this GPU is {here}"
    logger = trt.Logger(trt.Logger.WARNING)
    engine = trt.Runtime(logger).deserialize_cuda_engine(path.read_bytes())
    if engine is None:
        return "this TensorRT cannot deserialize the engine"
    context = engine.create_execution_context()
    stream = torch.cuda.Stream()
    buffers: dict[str, torch.Tensor] = {}
    for name, value in named.items():
        buffers[name] = value.cuda().contiguous()
        context.set_input_shape(name, tuple(value.shape))
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        if name not in buffers:
            dtype = _TORCH_DTYPES[_TRT_DTYPES[engine.get_tensor_dtype(name).name]]
            shape = tuple(context.get_tensor_shape(name))
            buffers[name] = torch.empty(shape, dtype=dtype, device="cuda")
        context.set_tensor_address(name, buffers[name].data_ptr())
    with torch.cuda.stream(stream):
        if not context.execute_async_v3(stream.cuda_stream):
            raise ExportError("TensorRT failed to run the engine")
    stream.synchronize()
    out_name = next(
        engine.get_tensor_name(i)
        for i in range(engine.num_io_tensors)
        if engine.get_tensor_mode(engine.get_tensor_name(i)) == trt.TensorIOMode.OUTPUT
    )
    out = buffers[out_name].cpu()
    return out.float().numpy() if out.dtype == torch.float16 else out.numpy()


# --------------------------------------------------------------------------------------------
# Triton
# --------------------------------------------------------------------------------------------

_TRITON_TYPES = {
    "float32": "TYPE_FP32",
    "float16": "TYPE_FP16",
    "int32": "TYPE_INT32",
    "uint8": "TYPE_UINT8",
}


def _triton_config(name: str, sidecar: Mapping[str, Any], platform: str) -> str:
    dynamic = sidecar["shape_range"] is not None
    max_batch = sidecar["shape_range"]["max"][0] if dynamic else 0

    def tensor_block(entry: Mapping[str, Any]) -> str:
        shape = entry["shape"]
        if dynamic:
            shape = shape[1:]  # Triton's batch dimension is implicit when max_batch_size > 0
        dims = ", ".join("-1" if isinstance(d, str) else str(d) for d in shape)
        return (
            f'  {{\n    name: "{entry["name"]}"\n'
            f"    data_type: {_TRITON_TYPES[entry['dtype']]}\n    dims: [ {dims} ]\n  }}"
        )

    inputs = ",\n".join(tensor_block(e) for e in sidecar["inputs"])
    outputs = ",\n".join(tensor_block(e) for e in sidecar["outputs"])
    return (
        f'name: "{name}"\nplatform: "{platform}"\nmax_batch_size: {max_batch}\n'
        f"input [\n{inputs}\n]\noutput [\n{outputs}\n]\n"
        "instance_group [ { kind: KIND_GPU, count: 1 } ]\n"
    )


def _write_triton(repo: Path, name: str, artifact: Path, sidecar: Mapping[str, Any]) -> Path:
    fmt = sidecar["format"]
    if fmt == "onnx":
        platform, filename = "onnxruntime_onnx", "model.onnx"
    elif fmt == "engine":
        platform, filename = "tensorrt_plan", "model.plan"
    else:
        raise ExportUsageError("a Triton repository takes an ONNX model or an engine")
    model_dir = repo / name
    version_dir = model_dir / "1"
    version_dir.mkdir(parents=True, exist_ok=True)
    with _temporary(version_dir / filename) as tmp:
        shutil.copyfile(artifact, tmp)
        os.replace(tmp, version_dir / filename)
    text = json.dumps(sidecar, indent=2) + "\n"
    _write_bytes_atomic(sidecar_path(version_dir / filename), text.encode())
    config = _triton_config(name, sidecar, platform)
    _write_bytes_atomic(model_dir / "config.pbtxt", config.encode())
    return model_dir


# --------------------------------------------------------------------------------------------
# The export
# --------------------------------------------------------------------------------------------


def _default_out(source: Any, fmt: str, precision: str, with_preprocess: bool) -> Path:
    stem = "model"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        stem = path.stem if path.suffix in (".pth", ".safetensors") else path.name or "model"
        if path.suffix == ".pth" and re.fullmatch(r".+_net_G", stem) and path.parent.name:
            stem = path.parent.name  # checkpoints/label2city_1024p/latest_net_G.pth
    suffix = ("-fp16" if precision == "fp16" else "") + ("-preprocess" if with_preprocess else "")
    return Path(stem + suffix + EXTENSIONS[fmt])


def _silent(_: str) -> None:
    pass


def export(
    source: str | os.PathLike[str] | LoadedModel,
    *,
    to: str = "onnx",
    precision: str = "fp32",
    size: tuple[int, int] | None = None,
    dynamic: bool = False,
    batch: int = 1,
    min_size: tuple[int, int] | None = None,
    max_size: tuple[int, int] | None = None,
    with_preprocess: bool = False,
    out: str | os.PathLike[str] | None = None,
    compute_capability: str | Sequence[str] | None = None,
    triton_repo: str | os.PathLike[str] | None = None,
    triton_name: str | None = None,
    verify: bool = True,
    tolerance: float | None = None,
    opset: int = OPSET,
    workspace_mib: int | None = None,
    load_options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """Export the generator of `source` (anything `p2phd.checkpoint.load` takes, or a
    LoadedModel) to `to` = "torchscript", "onnx" or "engine", with `<out>.json` beside it.

    size: H x W of a fixed-shape export (default 1024x2048 rounded to the stride), or the
    optimum of a `dynamic` one, whose batch, height and width vary between (1, min_size) and
    (batch, max_size) (defaults: twice the stride, and `size`). `compute_capability` ("8.6",
    or several) builds a TensorRT-for-RTX engine ahead of time for GPUs of that kind.
    `verify` runs the artifact on a synthetic scene against the torch model and raises
    VerificationError over tolerance: for fp32 the largest absolute error (default 1e-4 on
    [-1, 1] outputs, 1 level on uint8 images), for fp16 the lowest PSNR (default 40 dB);
    `tolerance` replaces that number. Usage errors raise ExportUsageError (a ValueError),
    anything else that fails ExportError; either way nothing is left at `out`.
    """
    progress = progress or _silent
    started = time.perf_counter()
    seconds: dict[str, float] = {}

    def stage(name: str, since: float) -> float:
        now = time.perf_counter()
        seconds[name] = seconds.get(name, 0.0) + now - since
        return now

    if to not in FORMATS:
        raise ExportUsageError(f"format must be one of {', '.join(FORMATS)}, got {to!r}")
    if precision not in PRECISIONS:
        raise ExportUsageError(f"precision must be fp32 or fp16, got {precision!r}")
    if opset < 17:
        raise ExportUsageError(f"opset must be >= 17, got {opset}")
    if isinstance(compute_capability, str):
        compute_capability = [compute_capability]
    capabilities = [parse_compute_capability(c) for c in compute_capability or []]
    if capabilities and to != "engine":
        raise ExportUsageError("--compute-capability applies to --to engine only")
    if triton_repo is not None and to == "torchscript":
        raise ExportUsageError("a Triton repository takes --to onnx or --to engine")
    if to == "engine":  # fail before the export, not after it
        trt = import_tensorrt()
        if capabilities and not _is_rtx(trt):
            raise ExportUsageError(
                "--compute-capability needs TensorRT for RTX; TensorRT builds for the local GPU"
            )
        for cc in capabilities:
            _rtx_capability(trt, cc)
        if not capabilities and not torch.cuda.is_available():
            raise ExportUsageError(
                "no GPU here: give --compute-capability (e.g. 8.6) to build an engine for "
                "another machine (TensorRT for RTX)"
            )

    if isinstance(source, LoadedModel):
        model = source
    else:
        progress(f"loading {source}")
        model = load(source, **dict(load_options or {}))
    config = model.config
    generator = model.generator.float().eval()
    shapes = _resolve_shapes(config, size, dynamic, batch, min_size, max_size)
    inputs, outputs = _io(config, precision, with_preprocess)
    out_path = (
        Path(out) if out is not None else _default_out(source, to, precision, with_preprocess)
    )
    t = stage("load", started)

    module = _traced_module(generator, config, precision, with_preprocess)
    # Traced at a small size, never the one it is verified at: a trace runs the model once,
    # which at 1024x2048 in float16 on a CPU takes many minutes, and a shape baked into the
    # graph by mistake then shows up as a verification failure.
    stride = config.downsampling
    trace_inputs, _ = _sample(config, inputs, 1, (2 * stride, 3 * stride), seed=1)
    example = tuple(trace_inputs.values())

    sidecar: dict[str, Any] = {
        "format": to,
        "config": config.to_dict(),
        "with_preprocess": with_preprocess,
        "precision": precision,
        "inputs": [tensor.describe(shapes) for tensor in inputs],
        "outputs": [tensor.describe(shapes) for tensor in outputs],
        "shape_range": shapes.shape_range(),
        "versions": _versions(),
        "weights_sha256": _weights_sha256(generator),
        "compute_capability": ",".join(capabilities) or None,
    }
    verifications: list[Verification] = []
    cache_path: Path | None = None
    cache_bytes: bytes | None = None
    verify_batch = min(2, shapes.batch) if shapes.dynamic else shapes.batch
    sample = None
    if verify:
        sample = _sample(config, inputs, verify_batch, shapes.size, seed=0)

    def check(backend: str, got: np.ndarray | str) -> None:
        if isinstance(got, str):
            verifications.append(Verification(backend, skipped=got))
        else:
            assert sample is not None
            expected = _reference(generator, sample[1], with_preprocess)
            verifications.append(
                _compare(backend, got, expected, precision, with_preprocess, tolerance)
            )
        progress(verifications[-1].describe())
        if verifications[-1].passed is False:
            hint = ""
            if backend == "onnxruntime" and precision == "fp32":
                hint = (
                    " (onnxruntime's CPU InstanceNormalization sums in float32 and differs "
                    "from torch by up to ~1e-2 on deep generators; if the PSNR is fine for "
                    "you, pass a larger --tolerance)"
                )
            raise VerificationError(
                f"{verifications[-1].describe()}: the {to} export disagrees with the torch "
                f"model; nothing was written{hint}",
                verifications[-1],
            )

    with contextlib.ExitStack() as stack:
        artifact_tmp = stack.enter_context(_temporary(out_path))
        if to == "torchscript":
            progress(f"tracing to TorchScript ({precision}, {_describe(shapes)})")
            _export_torchscript(module, example, artifact_tmp)
            t = stage("export", t)
            if sample is not None:
                progress("verifying with torch")
                check("torch", _run_torchscript(artifact_tmp, sample[0]))
                t = stage("verify", t)
        else:
            if to == "onnx":
                onnx_path = artifact_tmp
            else:
                workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                onnx_path = workdir / "model.onnx"
            progress(f"exporting ONNX opset {opset} ({precision}, {_describe(shapes)})")
            metadata = {"p2phd": json.dumps({**sidecar, "format": "onnx"}, sort_keys=True)}
            _export_onnx(module, example, onnx_path, inputs, outputs, shapes, opset, metadata)
            del module
            t = stage("export", t)
            if sample is not None:
                progress("verifying with onnxruntime (CPU)")
                check("onnxruntime", _run_onnxruntime(onnx_path, sample[0]))
                t = stage("verify", t)
            if to == "engine":
                cache_path = out_path.with_name(out_path.name + ".timing-cache")
                trt, io_in, io_out, cache_bytes = _build_engine(
                    onnx_path,
                    artifact_tmp,
                    cache_path,
                    inputs,
                    outputs,
                    shapes,
                    precision,
                    capabilities,
                    workspace_mib,
                    progress,
                )
                sidecar["inputs"], sidecar["outputs"] = io_in, io_out
                sidecar["versions"] = _versions(trt)
                t = stage("build", t)
                if sample is not None:
                    check("tensorrt", _run_engine(trt, artifact_tmp, sample[0], capabilities))
                    t = stage("verify", t)
        text = json.dumps(sidecar, indent=2) + "\n"
        sidecar_file = sidecar_path(out_path)
        sidecar_tmp = stack.enter_context(_temporary(sidecar_file))
        sidecar_tmp.write_text(text)
        os.replace(artifact_tmp, out_path)
        try:
            os.replace(sidecar_tmp, sidecar_file)
            if cache_path is not None and cache_bytes:
                _write_bytes_atomic(cache_path, cache_bytes)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                out_path.unlink()
            raise

    result = ExportResult(
        path=out_path,
        sidecar_path=sidecar_file,
        sidecar=sidecar,
        verifications=verifications,
        timing_cache_path=cache_path if cache_bytes else None,
        seconds=seconds,
    )
    if triton_repo is not None:
        name = triton_name or re.sub(r"[^A-Za-z0-9_.-]", "_", out_path.name.split(".")[0])
        result.triton_model_dir = _write_triton(Path(triton_repo), name, out_path, sidecar)
        progress(f"wrote Triton model {result.triton_model_dir}")
    seconds["total"] = time.perf_counter() - started
    return result


def _describe(shapes: _Shapes) -> str:
    if not shapes.dynamic:
        return f"{shapes.batch}x{shapes.size[0]}x{shapes.size[1]}"
    rng = shapes.shape_range()
    assert rng is not None
    return "dynamic " + " / ".join(f"{k} {v[0]}x{v[1]}x{v[2]}" for k, v in rng.items())
