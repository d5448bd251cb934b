# SPDX-License-Identifier: Apache-2.0
"""The export: load, trace, write the artifact and its sidecar, verify, then rename into place.

Artifacts are written under a temporary name in the destination directory, verified there,
and only then renamed into place, so a failed or interrupted export leaves nothing at `out`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from p2phd.artifact_io import Shapes, TensorSpec, io_tensors
from p2phd.atomic import atomic_paths, atomic_write, check_replaceable, file_sha256
from p2phd.checkpoint import LoadedModel, load
from p2phd.checkpoint.digest import weights_sha256
from p2phd.export import engine, triton
from p2phd.export import onnx as onnx_artifact
from p2phd.export import torchscript as torchscript_artifact
from p2phd.export import verify as verification
from p2phd.export.common import (
    EXTENSIONS,
    FORMATS,
    OPSET,
    PRECISIONS,
    ExportUsageError,
    Progress,
    check_size,
    describe_shapes,
    resolve_shapes,
    silent,
    trt_module_name,
    versions,
)
from p2phd.extras import require
from p2phd.models import graph
from p2phd.models.config import GeneratorConfig
from p2phd.runtime import openvino_models as openvino_artifact
from p2phd.sidecar import (
    ARTIFACT_DIGEST,
    clusters_to_json,
    semantics,
    sidecar_path,
)

# Runs an artifact on named inputs: its output, or a string saying why it cannot run here.
Runner = Callable[[Path, Mapping[str, torch.Tensor]], "np.ndarray | str"]


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


def _default_out(source: Any, fmt: str, precision: str, with_preprocess: bool) -> Path:
    stem = "model"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        stem = path.stem if path.suffix in (".pth", ".safetensors") else path.name or "model"
        if path.suffix == ".pth" and re.fullmatch(r".+_net_G", stem) and path.parent.name:
            stem = path.parent.name  # checkpoints/label2city_1024p/latest_net_G.pth
    suffix = ("-fp16" if precision == "fp16" else "") + ("-preprocess" if with_preprocess else "")
    return Path(stem + suffix + EXTENSIONS[fmt])


def _require_extras(to: str, verify: bool) -> None:
    """MissingExtra, naming the extra, before any work when a module the export needs is absent."""
    if to in ("onnx", "engine"):
        require("onnx")
    if to == "onnx" and verify:
        require("onnxruntime")


def _check_arguments(
    to: str,
    precision: str,
    opset: int,
    capabilities: Sequence[str],
    triton_repo: Any,
    tolerance: float | None,
) -> Any:
    """Usage errors before any work; returns the TensorRT module for engines."""
    if to not in FORMATS:
        raise ExportUsageError(f"format must be one of {', '.join(FORMATS)}, got {to!r}")
    if precision not in PRECISIONS:
        raise ExportUsageError(f"precision must be fp32 or fp16, got {precision!r}")
    if opset < 17:
        raise ExportUsageError(f"opset must be >= 17, got {opset}")
    if tolerance is not None and not (math.isfinite(tolerance) and tolerance > 0):
        raise ExportUsageError(f"tolerance must be a finite number > 0, got {tolerance}")
    if capabilities and to != "engine":
        raise ExportUsageError("--compute-capability applies to --to engine only")
    if to == "openvino" and triton_repo is not None:
        raise ExportUsageError("--triton-repo takes onnx, torchscript or engine artifacts")
    if to != "engine":
        return None
    trt = engine.import_tensorrt()
    if capabilities and not engine.is_rtx(trt):
        raise ExportUsageError(
            "--compute-capability needs TensorRT for RTX; TensorRT builds for the local GPU"
        )
    for cc in capabilities:
        engine.rtx_capability(trt, cc)
    if not capabilities and not torch.cuda.is_available():
        raise ExportUsageError(
            "no GPU here: give --compute-capability (e.g. 8.6) to build an engine for "
            "another machine (TensorRT for RTX)"
        )
    if triton_repo is not None:
        triton.check_artifact("engine", trt_module_name(trt))
    return trt


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
    another size only within a dynamic export's range: the float64 run dominates an export's
    time and grows with the pixels, and a smaller size checks the same graph on fewer of them)
    or on `verify_maps`, a list of (labels, instances) of that size, against the float64
    torch model, beside torch
    at the artifact's precision, and raises VerificationError when the artifact breaks the
    rule of `p2phd.export.verify` (`tolerance`: its factor, default 10). `triton_repo` adds
    the artifact as the next version of a Triton model (`triton_instances` "gpu:2" etc.).
    Usage errors raise ExportUsageError (a ValueError), anything else that fails ExportError;
    either way nothing is left at `out`.
    """
    progress = progress or silent
    started = time.perf_counter()
    seconds: dict[str, float] = {}

    def stage(name: str, since: float) -> float:
        now = time.perf_counter()
        seconds[name] = seconds.get(name, 0.0) + now - since
        return now

    if isinstance(compute_capability, str):
        compute_capability = [compute_capability]
    capabilities = [engine.parse_compute_capability(c) for c in compute_capability or []]
    trt = _check_arguments(to, precision, opset, capabilities, triton_repo, tolerance)
    _require_extras(to, verify)
    instances = triton.parse_instances(triton_instances) if triton_instances else None
    if instances is not None and triton_repo is None:
        raise ExportUsageError("--triton-instances needs --triton-repo")

    out_path = (
        Path(out) if out is not None else _default_out(source, to, precision, with_preprocess)
    )
    _check_out(out_path)
    if triton_repo is not None and Path(triton_repo).exists() and not Path(triton_repo).is_dir():
        raise ExportUsageError(f"--triton-repo {triton_repo} is not a folder")
    if isinstance(source, LoadedModel):
        model = source
    else:
        progress(f"loading {source}")
        model = load(source, **dict(load_options or {}))
    config = model.config
    generator = model.generator.float().eval()
    shapes = resolve_shapes(config, size, dynamic, batch, min_size, max_size)
    verify_at = _verify_size(shapes, verify_size, config.downsampling) if verify else None
    inputs, outputs = io_tensors(config, precision, with_preprocess)
    t = stage("load", started)

    module = graph.traced_module(generator, config, precision, with_preprocess)
    # Traced at a small size, never the one it is verified at: a trace runs the model once,
    # which at 1024x2048 in float16 on a CPU takes many minutes, and a shape baked into the
    # graph by mistake then shows up as a verification failure.
    stride = config.downsampling
    trace_maps = verification.synthetic_maps(config, 1, (2 * stride, 3 * stride), seed=1)
    example = tuple(
        verification.make_sample(config, trace_maps, model.clusters, seed=1).feeds(inputs).values()
    )

    sidecar: dict[str, Any] = {
        "format": to,
        "config": config.to_dict(),
        "with_preprocess": with_preprocess,
        "precision": precision,
        "inputs": [tensor.describe(shapes) for tensor in inputs],
        "outputs": [tensor.describe(shapes) for tensor in outputs],
        "shape_range": shapes.shape_range(),
        "semantics": semantics(config, with_preprocess),
        "clusters": clusters_to_json(model.clusters),
        "versions": versions(),
        "weights_sha256": weights_sha256(generator),
        "compute_capability": ",".join(capabilities) or None,
    }
    checker = (
        _Checker(
            generator,
            config,
            model.clusters,
            shapes,
            verify_at,
            inputs,
            precision,
            with_preprocess,
            verify_maps,
            tolerance,
            progress,
            to,
        )
        if verify_at is not None
        else None
    )

    sidecar_file = sidecar_path(out_path)
    with contextlib.ExitStack() as stack:
        # The artifact and its sidecar are renamed into place together at the end of the
        # block (or removed on failure); the sidecar holds the artifact's digest, so a pair
        # mixed by a kill between the two renames is refused when read.
        # OpenVINO IR: the weights file beside the .xml is a third member of the set.
        weights_path = out_path.with_suffix(".bin") if to == "openvino" else None
        targets = [out_path, sidecar_file, *([weights_path] if weights_path else [])]
        artifact_tmp, sidecar_tmp, *weights_tmps = stack.enter_context(
            atomic_paths(*targets, clean_stale=True)
        )
        weights_tmp = weights_tmps[0] if weights_tmps else None
        cache_path: Path | None = None
        cache_bytes: bytes | None = None
        if to == "torchscript":
            progress(f"tracing to TorchScript ({precision}, {describe_shapes(shapes)})")
            text = json.dumps(sidecar, sort_keys=True)
            torchscript_artifact.export_torchscript(module, example, artifact_tmp, text)
            t = stage("export", t)
            if checker is not None:
                progress("verifying with torch against float64 truth")
                checker.check(
                    "torchscript", "torch", artifact_tmp, torchscript_artifact.run_torchscript
                )
                t = stage("verify", t)
        else:
            if to == "onnx":
                onnx_path = artifact_tmp
            else:
                # Beside the artifact: the IR's files are renamed from here into place.
                where = out_path.parent if to == "openvino" else None
                workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=where)))
                onnx_path = workdir / "model.onnx"
            progress(f"exporting ONNX opset {opset} ({precision}, {describe_shapes(shapes)})")
            metadata = {"p2phd": json.dumps({**sidecar, "format": "onnx"}, sort_keys=True)}
            onnx_artifact.export_onnx(
                module, example, onnx_path, inputs, outputs, shapes, opset, metadata
            )
            del module
            t = stage("export", t)
            if checker is not None and to != "openvino":
                progress("verifying the ONNX with onnxruntime (CPU) against float64 truth")
                checker.check("onnx", "onnxruntime", onnx_path, onnx_artifact.run_onnxruntime)
                t = stage("verify", t)
            if weights_tmp is not None:
                _export_ir(onnx_path, artifact_tmp, weights_tmp, checker, progress)
                sidecar["versions"]["openvino"] = openvino_artifact.import_openvino().__version__
                t = stage("build", t)
            if to == "engine":
                cache_path = out_path.with_name(out_path.name + ".timing-cache")
                trt, io_in, io_out, cache_bytes = engine.build_engine(
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
                sidecar["versions"] = versions(trt)
                t = stage("build", t)
                if checker is not None:
                    checker.check(
                        "engine",
                        "tensorrt",
                        artifact_tmp,
                        lambda path, named: engine.run_engine(trt, path, named, capabilities),
                    )
                    t = stage("verify", t)
        sidecar[ARTIFACT_DIGEST] = file_sha256(artifact_tmp)
        sidecar_tmp.write_text(json.dumps(sidecar, indent=2) + "\n")
    if cache_path is not None and cache_bytes:
        with atomic_write(cache_path, clean_stale=True) as handle:
            handle.write(cache_bytes)

    result = ExportResult(
        path=out_path,
        sidecar_path=sidecar_file,
        sidecar=sidecar,
        verifications=[] if checker is None else checker.verifications,
        timing_cache_path=cache_path if cache_bytes else None,
        seconds=seconds,
    )
    if triton_repo is not None:
        name = triton_name or re.sub(r"[^A-Za-z0-9_.-]", "_", out_path.name.split(".")[0])
        result.triton_model_dir = triton.write_triton(
            Path(triton_repo), name, out_path, sidecar, instances
        )
        progress(f"wrote Triton model version {result.triton_model_dir}")
    seconds["total"] = time.perf_counter() - started
    return result


def _check_out(out_path: Path) -> None:
    """Usage errors for an `out` that cannot be written, before any work: a folder, a device
    or a FIFO where the artifact or its sidecar would go, or a file where a folder must be."""
    for path in (out_path, sidecar_path(out_path)):
        try:
            check_replaceable(path)
        except OSError as error:
            raise ExportUsageError(f"--out {path} {error.strerror}") from None
    for parent in out_path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise ExportUsageError(f"--out {out_path}: {parent} is a file, not a folder")
            return


def _verify_size(
    shapes: Shapes, verify_size: tuple[int, int] | None, stride: int
) -> tuple[int, int]:
    """The size the artifact is verified at: `verify_size` where the artifact takes it."""
    if verify_size is None:
        return shapes.size
    h, w = check_size(verify_size, stride, "verify size")
    (lo_h, lo_w), (hi_h, hi_w) = shapes.min_size, shapes.max_size
    if not shapes.dynamic and (h, w) != shapes.size:
        raise ExportUsageError(
            f"verify size {h}x{w}: a fixed-size artifact takes {hi_h}x{hi_w} only "
            "(export with --dynamic to verify at another size)"
        )
    if not (lo_h <= h <= hi_h and lo_w <= w <= hi_w):
        raise ExportUsageError(
            f"verify size {h}x{w} is outside the artifact's range {lo_h}x{lo_w} .. {hi_h}x{hi_w}"
        )
    return h, w


def _export_ir(
    onnx_path: Path,
    xml_tmp: Path,
    weights_tmp: Path,
    checker: _Checker | None,
    progress: Progress,
) -> None:
    """The exported ONNX as OpenVINO IR, verified with OpenVINO in f32, moved to the
    temporary names of the .xml and its .bin."""
    xml = onnx_path.with_suffix(".xml")
    progress("converting the ONNX to OpenVINO IR")
    openvino_artifact.save_ir(onnx_path, xml)
    if checker is not None:
        progress("verifying the IR with OpenVINO (CPU, f32) against float64 truth")
        checker.check("openvino", "openvino", xml, openvino_artifact.run_openvino)
    os.replace(xml.with_suffix(".bin"), weights_tmp)
    os.replace(xml, xml_tmp)


class _Checker:
    """Runs each stage's artifact on the sample and applies the verification rule."""

    def __init__(
        self,
        generator: torch.nn.Module,
        config: GeneratorConfig,
        clusters: Mapping[int, np.ndarray] | None,
        shapes: Shapes,
        size: tuple[int, int],
        inputs: Sequence[TensorSpec],
        precision: str,
        with_preprocess: bool,
        maps: Sequence[tuple[np.ndarray, np.ndarray]] | None,
        tolerance: float | None,
        progress: Progress,
        to: str,
    ) -> None:
        batch = min(2, shapes.batch) if shapes.dynamic else shapes.batch
        if maps is None:
            maps = verification.synthetic_maps(config, batch, size, seed=0)
        else:
            maps = list(maps)
            wrong = [np.shape(m[0]) for m in maps if tuple(np.shape(m[0])) != size]
            if wrong or not maps or (not shapes.dynamic and len(maps) != shapes.batch):
                raise ExportUsageError(
                    f"verify_maps must be {'up to ' if shapes.dynamic else ''}{shapes.batch} "
                    f"map(s) of {size[0]} x {size[1]}"
                )
        self.sample = verification.make_sample(config, maps, clusters, seed=0)
        self.feeds = self.sample.feeds(inputs)
        self.generator = generator
        self.precision = precision
        self.with_preprocess = with_preprocess
        self.factor = verification.DEFAULT_FACTOR if tolerance is None else tolerance
        self.progress = progress
        self.to = to
        self.verifications: list[verification.Verification] = []
        self._refs: verification.References | None = None

    def check(self, stage: str, backend: str, path: Path, run: Runner) -> None:
        """Run the artifact at `path` (`run` returns its output, or why it cannot run here)
        and raise VerificationError when it breaks the rule."""
        got = run(path, self.feeds)
        if isinstance(got, str):
            result = verification.Verification(stage, backend, skipped=got)
        else:
            if self._refs is None:  # once per export: the float64 run is the slow part
                h, w = self.sample.labels.shape[1:]
                self.progress(f"running the torch model in float64 and {self.precision} at {h}x{w}")
                self._refs = verification.references(self.generator, self.sample.x, self.precision)
            result = verification.compare(
                stage, backend, got, self._refs, self.precision, self.with_preprocess, self.factor
            )
        # Reported once, by the caller (the CLI prints result.verifications).
        self.verifications.append(result)
        if result.passed is False:
            step = "" if stage == self.to else f" (the {stage} step of the {self.to} export)"
            raise verification.VerificationError(
                f"the {stage} artifact{step} is further from the float64 torch model than "
                f"the rule allows; nothing was written. {result.describe()}",
                result,
            )
