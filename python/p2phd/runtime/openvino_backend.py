# SPDX-License-Identifier: Apache-2.0
"""The generator in OpenVINO on the CPU: the default CPU backend.

A checkpoint is converted in memory (runtime.openvino_models) into the graph that takes the label,
instance and feature maps and returns the uint8 image, one-hot, edges and the uint8
conversion inside it, so that OpenVINO fuses them with the first and last layers; the plain
generator (float output, or rounding="public") is converted at its first use. ONNX files and
OpenVINO IR files (.xml + .bin) run as they are.

Maps render one at a time (a batch map by map, so that a map's bytes do not depend on the
batch). One model is compiled per map shape, with one infer request, and kept (the last few
shapes): the same shape always runs the same compiled code, so a render gives the same bytes
at every call and in every process, at any number of threads from MIN_THREADS on (one
thread sums instance norms in another order: a level apart at most). Compiled with
PERFORMANCE_HINT LATENCY and NUM_STREAMS 1 (one request at a time: the Runtime renders one
call at a time), INFERENCE_PRECISION_HINT as asked (f32 stays f32 on CPUs whose default is
bf16), and INFERENCE_NUM_THREADS from `threads`; `properties` override any of these with
OpenVINO's own names (e.g. {"NUM_STREAMS": 2}, {"CACHE_DIR": "..."}).
"""

from __future__ import annotations

import functools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from p2phd.runtime import openvino_models as ov_models
from p2phd.runtime.map_feeds import Maps, map_feeds
from p2phd.sidecar import check_artifact_io, sidecar_path

PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
# What OPTIMIZATION_CAPABILITIES must list for a precision to run in hardware.
_CAPABILITIES = {"bf16": "BF16", "fp16": "FP16"}
_COMPILED_LIMIT = 4
# OpenVINO's instance norm (MVN) on one thread sums in another order than on several, where
# the order is the same at any count: from 2 threads on, the bytes do not depend on how many.
# So the backend's default is never one thread, and Ray's CPU actors ask for at least 2.
MIN_THREADS = 2

Model = Any  # an ov.Model
ModelSource = Model | Callable[[], Model]  # a model, or what converts it at its first use


_IO_NAMES = ("labels", "instances", "features", "input")
_OUTPUT_NAMES = ("image", "output")
# OpenVINO element types as the sidecar names them.
_DTYPES = {"f32": "float32", "f16": "float16", "i32": "int32", "i64": "int64", "u8": "uint8"}


def input_names(model: Model) -> list[str]:
    """The model's input names: ours (labels, instances, features, input) where a tensor has
    several, as the ONNX frontend gives an input the names of the ops it feeds."""
    names = []
    for port in model.inputs:
        given = port.get_names()
        names.append(next((n for n in _IO_NAMES if n in given), port.get_any_name()))
    return names


def model_io(model: Model) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The inputs and outputs `model` declares, as sidecar entries (name, dtype, shape; a
    dynamic dimension as "?")."""

    def entry(port: Any, name: str) -> dict[str, Any]:
        dtype = port.get_element_type().get_type_name()
        shape = port.get_partial_shape()
        dims = (
            [d.get_length() if d.is_static else "?" for d in shape] if shape.rank.is_static else []
        )
        return {"name": name, "dtype": _DTYPES.get(dtype, dtype), "shape": dims}

    inputs = [
        entry(port, name) for port, name in zip(model.inputs, input_names(model), strict=True)
    ]
    outputs = []
    for port in model.outputs:
        given = port.get_names()
        outputs.append(
            entry(port, next((n for n in _OUTPUT_NAMES if n in given), port.get_any_name()))
        )
    return inputs, outputs


def brief(error: Exception) -> str:
    """OpenVINO's message without the source locations it stacks before it."""
    lines = [line.strip() for line in str(error).splitlines()]
    told = [line for line in lines if line and not line.startswith("Exception from ")]
    return " ".join(told) or str(error)


class OpenVinoUnavailable(RuntimeError):
    """OpenVINO cannot run a model here: not installed, a precision this CPU lacks units for,
    or a model it cannot convert or read."""


class OpenVinoCannotRead(OpenVinoUnavailable, ValueError):
    """A file OpenVINO cannot read: a bad model for the openvino backend, and for "auto" a
    reason to try onnxruntime."""


def check_precision(precision: str) -> str:
    """The INFERENCE_PRECISION_HINT of `precision`, refusing one this CPU cannot compute in."""
    if precision not in PRECISION_HINTS:
        raise ValueError(
            f"precision must be one of {', '.join(PRECISION_HINTS)}, got {precision!r}"
        )
    capability = _CAPABILITIES.get(precision)
    if capability is not None:
        capabilities = ov_models.core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        if capability not in capabilities:
            raise OpenVinoUnavailable(
                f"this CPU has no {precision} units (OpenVINO's CPU capabilities are "
                f"{', '.join(capabilities)}); use precision='fp32'"
            )
    return PRECISION_HINTS[precision]


def _available_cores() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def compile_properties(
    precision: str, threads: int | None, properties: Mapping[str, Any] | None
) -> dict[str, Any]:
    """What each shape's model is compiled with (see the module docstring)."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)):
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    compiled: dict[str, Any] = {
        "INFERENCE_PRECISION_HINT": check_precision(precision),
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": 1,
    }
    if threads is None and _available_cores() == 1:
        threads = MIN_THREADS  # OpenVINO's own default there would be one thread
    if threads is not None:
        compiled["INFERENCE_NUM_THREADS"] = threads
    supported = set(ov_models.core().get_property("CPU", "SUPPORTED_PROPERTIES"))
    for name, value in (properties or {}).items():
        if name not in supported:
            raise ValueError(f"{name!r} is not a property of OpenVINO's CPU device")
        compiled[name] = value
    return compiled


class OpenVinoBackend:
    name = "openvino"

    def __init__(
        self,
        label: str,
        maps_model: ModelSource | None,
        plain_model: ModelSource | None,
        precision: str,
        threads: int | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> None:
        """`maps_model` takes the maps and returns uint8 images, `plain_model` takes the
        generator input and returns the float image; either may be None (an ONNX or IR file
        is one of the two). `label` names the model in errors."""
        self.label = label
        self.device = torch.device("cpu")
        self.precision = precision
        self.properties = compile_properties(precision, threads, properties)
        self._sources: dict[str, ModelSource] = {}
        if maps_model is not None:
            self._sources["maps"] = maps_model
        if plain_model is not None:
            self._sources["plain"] = plain_model
        # An artifact exported with its preprocessing takes the raw maps and returns uint8 RGB.
        self.takes_maps = maps_model is not None
        # Whether generate() runs: the float image, for output="float" and rounding="public".
        self.generates = plain_model is not None
        self.input_dtype = torch.float32
        if self._loaded("plain"):
            if plain_model.inputs[0].get_element_type().get_type_name() == "f16":
                self.input_dtype = torch.float16
        self._compiled: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def threads(self) -> int:
        """The threads one render uses: INFERENCE_NUM_THREADS, or all the CPU's (0 = all)."""
        return int(self.properties.get("INFERENCE_NUM_THREADS", 0))

    def _loaded(self, kind: str) -> bool:
        return isinstance(self._sources.get(kind), ov_models.import_openvino().Model)

    def _model(self, kind: str) -> Model:
        if not self._loaded(kind):
            self._sources[kind] = self._sources[kind]()
        return self._sources[kind]

    def _request(self, kind: str, shapes: tuple[tuple[str, tuple[int, ...]], ...]) -> Any:
        key = (kind, shapes)
        request = self._compiled.get(key)
        if request is not None:
            self._compiled.move_to_end(key)
            return request
        while len(self._compiled) >= _COMPILED_LIMIT:
            self._compiled.popitem(last=False)  # the least recently used shape
        model = self._model(kind).clone()
        try:
            model.reshape(dict(shapes))
            compiled = ov_models.core().compile_model(model, "CPU", self.properties)
        except RuntimeError as error:
            described = ", ".join(f"{name} {list(shape)}" for name, shape in shapes)
            raise ValueError(
                f"{self.label}: OpenVINO cannot run it on {described}: {brief(error)}"
            ) from error
        request = compiled.create_infer_request()
        self._compiled[key] = request
        return request

    def _infer(self, kind: str, feeds: dict[str, np.ndarray], copy: bool) -> torch.Tensor:
        """The first output for `feeds`, map by map: OpenVINO's instance norm (MVN) sums a
        lone map split between threads but a map of a batch on one thread, and its
        transposed convolution splits some batch sizes' work differently, so that a map
        would render a level apart in a batch; one at a time, its bytes never depend on the
        batch it came in (what that costs: BENCHMARKS.md, tools/batch_overhead.py)."""
        count = next(iter(feeds.values())).shape[0]
        with self._lock:
            if count == 1:
                result = self._infer_one(kind, feeds)
                return torch.from_numpy(np.array(result, copy=True) if copy else result)
            images = [
                self._infer_one(kind, {name: a[i : i + 1] for name, a in feeds.items()}).copy()
                for i in range(count)
            ]
            return torch.from_numpy(np.concatenate(images))

    def _infer_one(self, kind: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        shapes = tuple((name, tuple(array.shape)) for name, array in feeds.items())
        request = self._request(kind, shapes)
        request.infer(feeds, share_inputs=True)
        return request.get_output_tensor(0).data

    def generate(self, generator_input: torch.Tensor) -> torch.Tensor:
        """N x input_nc x H x W -> N x 3 x H x W in [-1, 1]. The result is the infer
        request's memory, overwritten by the next render of the shape: copy it to keep it."""
        array = generator_input.detach().to(self.input_dtype).contiguous().numpy()
        (name,) = input_names(self._model("plain"))
        return self._infer("plain", {name: array}, copy=False)

    @functools.cached_property
    def _maps_inputs(self) -> tuple[list[str], torch.dtype]:
        model = self._model("maps")
        names = input_names(model)
        labels = model.inputs[names.index("labels")].get_element_type().get_type_name()
        return names, torch.uint8 if labels == "u8" else torch.int32

    @property
    def label_dtype(self) -> torch.dtype:
        """What the maps graph reads labels as: uint8 where it was converted so (from a
        checkpoint whose label_nc <= 256), else int32, as exported."""
        return self._maps_inputs[1]

    def render_maps(self, maps: Maps) -> torch.Tensor:
        """labels (+ instances, + features) -> N x H x W x 3 uint8, all inside the graph."""
        names, label_dtype = self._maps_inputs
        feeds = map_feeds(names, maps, label_dtype)
        arrays = {name: feeds[name].contiguous().numpy() for name in names}
        return self._infer("maps", arrays, copy=True)


def from_generator(
    label: str,
    generator: torch.nn.Module,
    config: Any,
    precision: str,
    threads: int | None = None,
    properties: Mapping[str, Any] | None = None,
) -> OpenVinoBackend:
    """A checkpoint's generator (f32, on the CPU) converted in memory; OpenVinoUnavailable
    where OpenVINO is missing, lacks the precision's units or cannot convert it."""
    try:
        check_precision(precision)
        maps_model = ov_models.convert_generator(generator, config, with_preprocess=True)
        if config.label_nc <= 256:
            maps_model = ov_models.with_uint8_labels(maps_model)
    except ImportError as error:
        raise OpenVinoUnavailable(str(error)) from error
    except OpenVinoUnavailable:
        raise
    except (RuntimeError, TypeError) as error:  # OpenVINO's and the exporter's own errors
        raise OpenVinoUnavailable(f"OpenVINO cannot convert {label}: {brief(error)}") from error
    return OpenVinoBackend(
        label,
        maps_model,
        lambda: ov_models.convert_generator(generator, config, with_preprocess=False),
        precision,
        threads,
        properties,
    )


def from_file(
    path: Path,
    precision: str,
    threads: int | None = None,
    properties: Mapping[str, Any] | None = None,
    sidecar: Mapping[str, Any] | None = None,
) -> OpenVinoBackend:
    """An ONNX or OpenVINO IR file (.xml, its weights in the .bin beside it). An IR with a
    `sidecar` must declare the sidecar's tensors (names, element types, ranks and sizes; the
    sidecar's own tensors are checked against its config when read): SidecarError if not.
    An ONNX file's tensors are checked by the caller, with the onnx package."""
    try:
        check_precision(precision)
        model = ov_models.read_model(path)
    except ImportError as error:
        raise OpenVinoUnavailable(str(error)) from error
    except OpenVinoUnavailable:
        raise
    except RuntimeError as error:
        raise OpenVinoCannotRead(
            f"{path}: not a model OpenVINO can read ({brief(error)})"
        ) from error
    if sidecar is not None and path.suffix == ".xml":
        check_artifact_io(sidecar, *model_io(model), sidecar_path(path))
    takes_maps = "labels" in input_names(model)
    maps_model, plain_model = (model, None) if takes_maps else (None, model)
    return OpenVinoBackend(path.name, maps_model, plain_model, precision, threads, properties)
