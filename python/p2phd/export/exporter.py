# SPDX-License-Identifier: Apache-2.0
"""The export: load, trace, write the artifact and its sidecar, verify, then rename into place.

Artifacts are written under a temporary name in the destination directory, verified there,
and only then renamed into place, so a failed or interrupted export leaves nothing at `out`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from p2phd.artifact_io import Shapes, TensorSpec, io_tensors
from p2phd.atomic import (
    atomic_paths,
    atomic_write,
    file_sha256,
    temporary_folder,
)
from p2phd.checkpoint import LoadedModel, load
from p2phd.checkpoint.digest import weights_sha256
from p2phd.export import arguments, engine, triton
from p2phd.export import int8 as int8_ir
from p2phd.export import onnx as onnx_artifact
from p2phd.export import torchscript as torchscript_artifact
from p2phd.export import verify as verification
from p2phd.export.checker import Checker, Runner, check_verify_size
from p2phd.export.common import (
    OPSET,
    Progress,
    describe_shapes,
    resolve_shapes,
    silent,
    versions,
)
from p2phd.models import graph
from p2phd.runtime import openvino_models as openvino_artifact
from p2phd.sidecar import (
    ARTIFACT_DIGEST,
    BIN_DIGEST,
    clusters_to_json,
    semantics,
    sidecar_path,
)


@dataclass
class ExportResult:
    """Where the artifact went and what it is."""

    path: Path
    sidecar_path: Path
    sidecar: dict[str, Any]
    verifications: list[verification.Verification] = field(default_factory=list)
    timing_cache_path: Path | None = None
    triton_model_dir: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def format(self) -> str:
        return self.sidecar["format"]


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
    triton_instances: str | None = None,
    verify: bool = True,
    verify_maps: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    verify_size: tuple[int, int] | None = None,
    tolerance: float | None = None,
    int8: bool = False,
    calibration: str = int8_ir.DEFAULT_CALIBRATION,
    opset: int = OPSET,
    workspace_mib: int | None = None,
    load_options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """Export the generator of `source` (anything `p2phd.checkpoint.load` takes, or a
    LoadedModel) to `to` = "torchscript", "onnx", "engine" or "openvino" (OpenVINO IR: `out`
    is the .xml, its weights go to the .bin beside it), with `<out>.json` beside it.

    size: H x W of a fixed-shape export (default 1024x2048 rounded to the stride), or the
    optimum of a `dynamic` one, whose batch, height and width vary between (1, min_size) and
    (batch, max_size) (defaults: twice the stride, and `size`). `compute_capability` ("8.6",
    or several) builds a TensorRT-for-RTX engine ahead of time for GPUs of that kind.
    Feature models carry their cluster table in the sidecar (and inside the ONNX/TorchScript).

    `verify` runs the artifact on synthetic street scenes at `verify_size` (default `size`;
    another only within a dynamic export's range: float64 time grows with the pixels) or on
    `verify_maps` ((labels, instances) of that size) against the float64 torch model, beside
    torch at the artifact's precision; VerificationError where it breaks the rule of
    `p2phd.export.verify` (`tolerance`: its factor, default 10). `triton_repo` adds the
    artifact as the next version of a Triton model (`triton_instances` "gpu:2" etc.).
    `int8` (openvino) quantizes the IR with NNCF, calibrated on `calibration` (see
    `p2phd.export.int8`), and verifies it by its segmentation score, not its pixel error.
    Usage errors raise ExportUsageError (a ValueError), anything else that fails ExportError;
    either way nothing is left at `out`.
    """
    progress = progress or silent
    timer = _Timer()
    listed = [compute_capability] if isinstance(compute_capability, str) else compute_capability
    capabilities = [engine.parse_compute_capability(c) for c in listed or []]
    arguments.check_arguments(to, precision, opset, capabilities, triton_repo, tolerance)
    arguments.require_extras(to, verify)
    quantization = int8_ir.calibration_of(int8, to, precision, calibration)
    instances = arguments.check_triton(triton_repo, triton_instances)
    out_path = arguments.check_out(out, source, to, precision, with_preprocess)
    model = _load(source, load_options, progress)
    job = _Job(to, precision, with_preprocess, out_path, opset, workspace_mib, capabilities)
    job.progress, job.timer, job.int8 = progress, timer, quantization
    job.plan(model, resolve_shapes(model.config, size, dynamic, batch, min_size, max_size))
    if verify:
        job.checker = _checker(job, verify_size, verify_maps, tolerance)
    timer.lap("load")
    cache_path, cache_bytes = _write(job)
    result = ExportResult(
        path=out_path,
        sidecar_path=sidecar_path(out_path),
        sidecar=job.sidecar,
        verifications=[] if job.checker is None else job.checker.verifications,
        timing_cache_path=cache_path if cache_bytes else None,
        seconds=timer.seconds,
    )
    if triton_repo is not None:
        name = triton_name or re.sub(r"[^A-Za-z0-9_.-]", "_", out_path.name.split(".")[0])
        result.triton_model_dir = triton.write_triton(
            Path(triton_repo), name, out_path, job.sidecar, instances
        )
        progress(f"wrote Triton model version {result.triton_model_dir}")
    timer.seconds["total"] = time.perf_counter() - timer.started
    return result


def _load(
    source: str | os.PathLike[str] | LoadedModel,
    load_options: Mapping[str, Any] | None,
    progress: Progress,
) -> LoadedModel:
    if isinstance(source, LoadedModel):
        return source
    progress(f"loading {source}")
    return load(source, **dict(load_options or {}))


class _Timer:
    """Seconds per stage of the export; a stage that comes back adds to its time."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self.last
        self.last = now


@dataclass
class _Job:
    """One export, its arguments checked: what each stage reads and the sidecar it fills."""

    to: str
    precision: str
    with_preprocess: bool
    out_path: Path
    opset: int
    workspace_mib: int | None
    capabilities: list[str]
    model: LoadedModel = field(init=False)
    shapes: Shapes = field(init=False)
    inputs: list[TensorSpec] = field(init=False)
    outputs: list[TensorSpec] = field(init=False)
    sidecar: dict[str, Any] = field(init=False)
    checker: Checker | None = None
    int8: int8_ir.Calibration | None = None  # quantize the IR, calibrated so
    progress: Progress = silent
    timer: _Timer = field(default_factory=_Timer)

    def plan(self, model: LoadedModel, shapes: Shapes) -> None:
        """The model in float32, its IO tensors and the sidecar's first fields."""
        model.generator.float().eval()
        self.model, self.shapes, config = model, shapes, model.config
        self.inputs, self.outputs = io_tensors(config, self.precision, self.with_preprocess)
        self.sidecar = {
            "format": self.to,
            "config": config.to_dict(),
            "with_preprocess": self.with_preprocess,
            "precision": self.precision,
            "inputs": [tensor.describe(shapes) for tensor in self.inputs],
            "outputs": [tensor.describe(shapes) for tensor in self.outputs],
            "shape_range": shapes.shape_range(),
            "semantics": semantics(config, self.with_preprocess),
            "clusters": clusters_to_json(model.clusters),
            "versions": versions(),
            "weights_sha256": weights_sha256(model.generator),
            "compute_capability": ",".join(self.capabilities) or None,
        }

    def trace(self) -> tuple[torch.nn.Module, tuple[torch.Tensor, ...]]:
        """The traced module and an example input for it."""
        config = self.model.config
        module = graph.traced_module(
            self.model.generator, config, self.precision, self.with_preprocess
        )
        # Traced at a small size, never the one it is verified at: a trace runs the model
        # once, which at 1024x2048 in float16 on a CPU takes many minutes, and a shape baked
        # into the graph by mistake then shows up as a verification failure.
        stride = config.downsampling
        maps = verification.synthetic_maps(config, 1, (2 * stride, 3 * stride), seed=1)
        sample = verification.make_sample(config, maps, self.model.clusters, seed=1)
        return module, tuple(sample.feeds(self.inputs).values())

    def check(self, stage: str, backend: str, path: Path, run: Runner) -> None:
        """Verify the artifact of `stage` when the export verifies."""
        if self.checker is not None:
            self.checker.check(stage, backend, path, run)
            self.timer.lap("verify")


def _checker(
    job: _Job,
    verify_size: tuple[int, int] | None,
    maps: Sequence[tuple[np.ndarray, np.ndarray]] | None,
    tolerance: float | None,
) -> Checker:
    """The checker of `job`'s artifacts, at `verify_size` (default the export's size)."""
    model, shapes = job.model, job.shapes
    size = check_verify_size(shapes, verify_size, model.config.downsampling)
    return Checker(
        model.generator,
        model.config,
        model.clusters,
        shapes,
        size,
        job.inputs,
        job.precision,
        job.with_preprocess,
        maps,
        tolerance,
        job.progress,
        job.to,
    )


def _write(job: _Job) -> tuple[Path | None, bytes | None]:
    """Write and verify the artifact and its sidecar under temporary names, then rename
    them into place; the engine's timing cache path and bytes (None for other kinds)."""
    out_path = job.out_path
    with contextlib.ExitStack() as stack:
        # The artifact and its sidecar are renamed into place together at the end of the
        # block (or removed on failure); the sidecar holds the artifact's digest, so a pair
        # mixed by a kill between the two renames is refused when read.
        # OpenVINO IR: the weights file beside the .xml is a third member of the set.
        weights_path = out_path.with_suffix(".bin") if job.to == "openvino" else None
        targets = [out_path, sidecar_path(out_path), *([weights_path] if weights_path else [])]
        artifact_tmp, sidecar_tmp, *weights_tmps = stack.enter_context(
            atomic_paths(*targets, clean_stale=True)
        )
        cache_path: Path | None = None
        cache_bytes: bytes | None = None
        if job.to == "torchscript":
            _write_torchscript(job, artifact_tmp)
        else:
            onnx_path = artifact_tmp
            if job.to != "onnx":
                if job.to == "openvino":
                    # Beside the artifact, named as its temporaries: the IR's files are
                    # renamed from there, and the next export removes a killed one's.
                    workdir = temporary_folder(out_path)
                    stack.callback(shutil.rmtree, workdir, ignore_errors=True)
                else:
                    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                onnx_path = workdir / "model.onnx"
            _write_onnx(job, onnx_path)
            if weights_tmps:
                _export_ir(job, onnx_path, artifact_tmp, weights_tmps[0])
                version = openvino_artifact.import_openvino().__version__
                job.sidecar["versions"]["openvino"] = version
                job.timer.lap("build")
            if job.to == "engine":
                cache_path = out_path.with_name(out_path.name + ".timing-cache")
                cache_bytes = _build_engine(job, onnx_path, artifact_tmp, cache_path)
        job.sidecar[ARTIFACT_DIGEST] = file_sha256(artifact_tmp)
        if weights_tmps:
            job.sidecar[BIN_DIGEST] = file_sha256(weights_tmps[0])
        sidecar_tmp.write_text(json.dumps(job.sidecar, indent=2) + "\n")
    if cache_path is not None and cache_bytes:
        with atomic_write(cache_path, clean_stale=True) as handle:
            handle.write(cache_bytes)
    return cache_path, cache_bytes


def _write_torchscript(job: _Job, artifact_tmp: Path) -> None:
    module, example = job.trace()
    job.progress(f"tracing to TorchScript ({job.precision}, {describe_shapes(job.shapes)})")
    text = json.dumps(job.sidecar, sort_keys=True)
    torchscript_artifact.export_torchscript(module, example, artifact_tmp, text)
    job.timer.lap("export")
    if job.checker is not None:
        job.progress("verifying with torch against float64 truth")
    job.check("torchscript", "torch", artifact_tmp, torchscript_artifact.run_torchscript)


def _write_onnx(job: _Job, onnx_path: Path) -> None:
    """The ONNX of every kind but TorchScript (the artifact itself for --to onnx), verified
    with onnxruntime unless OpenVINO verifies its IR."""
    module, example = job.trace()
    job.progress(
        f"exporting ONNX opset {job.opset} ({job.precision}, {describe_shapes(job.shapes)})"
    )
    metadata = {"p2phd": json.dumps({**job.sidecar, "format": "onnx"}, sort_keys=True)}
    onnx_artifact.export_onnx(
        module, example, onnx_path, job.inputs, job.outputs, job.shapes, job.opset, metadata
    )
    del module  # before an engine build, which needs the memory
    job.timer.lap("export")
    if job.to != "openvino":
        if job.checker is not None:
            job.progress("verifying the ONNX with onnxruntime (CPU) against float64 truth")
        job.check("onnx", "onnxruntime", onnx_path, onnx_artifact.run_onnxruntime)


def _build_engine(job: _Job, onnx_path: Path, artifact_tmp: Path, cache_path: Path) -> bytes:
    """The TensorRT engine from the ONNX, verified; returns its timing cache's bytes."""
    trt, io_in, io_out, cache_bytes = engine.build_engine(
        onnx_path,
        artifact_tmp,
        cache_path,
        job.inputs,
        job.outputs,
        job.shapes,
        job.precision,
        job.capabilities,
        job.workspace_mib,
        job.progress,
    )
    job.sidecar["inputs"], job.sidecar["outputs"] = io_in, io_out
    job.sidecar["versions"] = versions(trt)
    job.timer.lap("build")
    capabilities = job.capabilities
    job.check(
        "engine",
        "tensorrt",
        artifact_tmp,
        lambda path, named: engine.run_engine(trt, path, named, capabilities),
    )
    return cache_bytes


def _quantize_ir(job: _Job, xml: Path) -> Path:
    """The f32 IR `xml` quantized to INT8 beside it, scored against it when verifying."""
    assert job.int8 is not None
    config, size = job.model.config, job.shapes.size
    batch = 1 if job.shapes.dynamic else job.shapes.batch
    job.progress(f"quantizing to INT8 with NNCF on {job.int8.describe()} of {size[0]}x{size[1]}")
    maps = int8_ir.calibration_maps(job.int8, config, size)
    quantized = xml.with_name("model-int8.xml")
    int8_ir.quantize_ir(xml, config, job.model.clusters, job.inputs, maps, batch, quantized)
    job.sidecar["quantization"] = f"int8 (NNCF, calibrated on {job.int8.describe()})"
    job.timer.lap("quantize")
    if job.checker is not None:
        job.progress("scoring the INT8 IR against the f32 IR with the shipped segmenter")
        scored_size = tuple(job.checker.sample.labels.shape[1:])  # the verify size
        score = int8_ir.check_score(
            xml, quantized, config, job.model.clusters, job.inputs, scored_size, batch
        )
        job.checker.verifications.append(score)
        job.timer.lap("verify")
    return quantized


def _export_ir(job: _Job, onnx_path: Path, xml_tmp: Path, weights_tmp: Path) -> None:
    """The exported ONNX as OpenVINO IR, verified with OpenVINO in f32 (and quantized to
    INT8 and scored, where asked), moved to the temporary names of the .xml and its .bin."""
    xml = onnx_path.with_suffix(".xml")
    job.progress("converting the ONNX to OpenVINO IR")
    openvino_artifact.save_ir(onnx_path, xml)
    if job.checker is not None:
        job.progress("verifying the IR with OpenVINO (CPU, f32) against float64 truth")
        job.checker.check("openvino", "openvino", xml, openvino_artifact.run_openvino)
    if job.int8 is not None:
        xml = _quantize_ir(job, xml)
    os.replace(xml.with_suffix(".bin"), weights_tmp)
    os.replace(xml, xml_tmp)
