# SPDX-License-Identifier: Apache-2.0
"""OpenVINO models of a generator: converted in memory through ONNX (torch.onnx, then
OpenVINO's ONNX frontend), which gives the same graph as the ONNX artifact and f32 results
equal to torch's up to float rounding; and the OpenVINO IR artifact of p2phd-export
(`--to openvino`: model.xml + model.bin, from the exported ONNX).

OpenVINO reads its model files (.xml + .bin, and .onnx) without mmap here (ENABLE_MMAP
False): a loaded model keeps its weights in memory and never depends on its files again.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from p2phd import __version__
from p2phd.artifact_io import TensorSpec, io_tensors
from p2phd.checkpoint.digest import weights_sha256
from p2phd.models.config import GeneratorConfig
from p2phd.models.graph import ONNX_OPSET as OPSET
from p2phd.models.graph import traced_module

# Converted models kept per process, by weights, config and graph kind: a second Runtime of
# the same model (a server's, a test's) skips the conversion. A few small ones only: each
# holds its weights after its Runtimes are gone (larger models come back from the disk cache).
_CONVERTED_LIMIT = 4
_CONVERTED_MAX_BYTES = 64 << 20
_converted: OrderedDict[tuple[str, str, bool], Any] = OrderedDict()
_converted_lock = threading.Lock()
_core: Any = None


def import_openvino() -> Any:
    """The openvino module, or ImportError saying how to install it."""
    try:
        import openvino
    except ImportError as error:
        raise ImportError("OpenVINO is not installed: pip install openvino") from error
    return openvino


def core() -> Any:
    """The process's OpenVINO Core, which reads model files without mmap."""
    global _core
    if _core is None:
        ov = import_openvino()
        created = ov.Core()
        created.set_property({"ENABLE_MMAP": False})
        _core = created
    return _core


def read_model(path: Path) -> Any:
    """An ONNX or OpenVINO IR (.xml beside its .bin) file as an ov.Model, read into memory."""
    return core().read_model(str(path), config={"ENABLE_MMAP": False})


def onnx_bytes(
    module: nn.Module,
    example: tuple[torch.Tensor, ...],
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    opset: int = OPSET,
) -> bytes:
    """`module` as ONNX bytes with the specs' names and dynamic batch, height and width:
    the one trace of both the ONNX artifact (p2phd.export.onnx) and OpenVINO's models."""
    dynamic_axes = {t.name: t.dynamic_axes() for t in (*inputs, *outputs)}
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation note
        torch.onnx.export(
            module,
            example,
            buffer,
            dynamo=False,
            opset_version=opset,
            input_names=[t.name for t in inputs],
            output_names=[t.name for t in outputs],
            dynamic_axes=dynamic_axes,
            do_constant_folding=True,
        )
    return buffer.getvalue()


def example_inputs(
    config: GeneratorConfig, inputs: Sequence[TensorSpec], dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, ...]:
    """Small inputs to trace with: four strides square, one map; label 0 and one instance."""
    side = 4 * config.downsampling
    example = []
    for spec in inputs:
        if spec.dtype == "int32":
            example.append(torch.zeros(spec.shape(1, side, side), dtype=torch.int32))
        else:
            example.append(torch.zeros(spec.shape(1, side, side), dtype=dtype))
    return tuple(example)


def cache_folder() -> Path | None:
    """Where converted models are kept between processes: $P2PHD_CACHE_DIR/openvino, by
    default ~/.cache/p2phd/openvino ($XDG_CACHE_HOME/p2phd where that is set); None where
    P2PHD_CACHE_DIR is set to the empty string (no cache)."""
    root = os.environ.get("P2PHD_CACHE_DIR")
    if root == "":
        return None
    if root is None:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = str(Path(base) / "p2phd")
    return Path(root) / "openvino"


def _cache_name(key: tuple[str, str, bool]) -> str:
    """The file name of a converted model: what it is, and what converted it."""
    ov = import_openvino()
    made_by = (__version__, torch.__version__, ov.__version__, OPSET)
    return hashlib.sha256(repr((key, made_by)).encode()).hexdigest()[:32]


def _read_cached(xml: Path) -> Any:
    """The model cached at `xml`, or None where there is none (or one that cannot be read,
    which is converted again)."""
    if not (xml.is_file() and xml.with_suffix(".bin").is_file()):
        return None
    try:
        return read_model(xml)
    except RuntimeError:
        return None


def _write_cached(model: Any, xml: Path) -> None:
    """Saves `model` at `xml` (+ .bin), each under a temporary name first, the .xml last:
    a reader never sees half a model. A cache that cannot be written is left alone."""
    ov = import_openvino()
    try:
        xml.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=xml.parent, prefix=".converting.") as folder:
            written = Path(folder) / "model.xml"
            ov.save_model(model, str(written), compress_to_fp16=False)
            os.replace(written.with_suffix(".bin"), xml.with_suffix(".bin"))
            os.replace(written, xml)
    except OSError:
        pass


def convert_generator(generator: nn.Module, config: GeneratorConfig, with_preprocess: bool) -> Any:
    """The f32 generator as an ov.Model with dynamic batch, height and width: the plain graph
    (`input` -> `output` in [-1, 1]) or, `with_preprocess`, labels (+ instances, + features)
    -> uint8 `image` with one-hot, edges and the uint8 conversion (rounding to nearest) in
    the graph. Kept per process (small models; a copy is returned: callers reshape it), and
    on disk in cache_folder() (IR, read back without mmap), so that a new process of the
    same model skips the conversion: torch.onnx's trace is most of a first render's time."""
    key = (weights_sha256(generator), config.to_json(), with_preprocess)
    with _converted_lock:
        model = _converted.get(key)
        if model is not None:
            _converted.move_to_end(key)
            return model.clone()
    folder = cache_folder()
    cached = None if folder is None else folder / f"{_cache_name(key)}.xml"
    model = None if cached is None else _read_cached(cached)
    if model is None:
        inputs, outputs = io_tensors(config, "fp32", with_preprocess)
        module = traced_module(generator, config, "fp32", with_preprocess)
        data = onnx_bytes(module, example_inputs(config, inputs), inputs, outputs)
        model = core().read_model(data)  # its ONNX frontend: far faster than convert_model
        if cached is not None:
            _write_cached(model, cached)
    if sum(p.numel() * p.element_size() for p in generator.parameters()) <= _CONVERTED_MAX_BYTES:
        with _converted_lock:
            _converted[key] = model
            while len(_converted) > _CONVERTED_LIMIT:
                _converted.popitem(last=False)
    return model.clone()


def with_uint8_labels(model: Any) -> Any:
    """`model` (a graph with its preprocessing) reading its labels as uint8, converted to
    int32 inside: for label_nc <= 256, a conversion fewer before each render and a quarter
    of the bytes for OpenVINO to read. The same images, bit for bit."""
    from openvino.preprocess import PrePostProcessor

    steps = PrePostProcessor(model)
    steps.input("labels").tensor().set_element_type(import_openvino().Type.u8)
    return steps.build()


def save_ir(onnx_path: Path, xml_path: Path) -> None:
    """The ONNX at `onnx_path` as OpenVINO IR: `xml_path` and the .bin beside it, weights
    kept in the ONNX's precision (OpenVINO would compress float32 weights to float16)."""
    import_openvino().save_model(read_model(onnx_path), str(xml_path), compress_to_fp16=False)


def run_openvino(path: Path, named: Mapping[str, torch.Tensor]) -> np.ndarray:
    """The first output of the IR or ONNX at `path` in OpenVINO on the CPU, computing in
    f32 (the precision hint made explicit: OpenVINO's default is bf16 on CPUs with bf16
    units), fed by input name."""
    compiled = core().compile_model(read_model(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    request.infer({name: value.numpy() for name, value in named.items()})
    return request.get_output_tensor(0).data.copy()
