# SPDX-License-Identifier: Apache-2.0
"""The export's usage errors, found before any work: formats, precisions, extras, Triton
options and where the artifact goes."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from p2phd.atomic import check_replaceable
from p2phd.export import engine, triton
from p2phd.export.common import (
    EXTENSIONS,
    FORMATS,
    PRECISIONS,
    ExportUsageError,
    trt_module_name,
)
from p2phd.extras import require
from p2phd.sidecar import sidecar_path


def default_out(source: Any, fmt: str, precision: str, with_preprocess: bool) -> Path:
    """The file name an export writes when no `out` is given: the checkpoint's name (its
    folder's for a public `*_net_G.pth`, "model" for an object), "-fp16" and "-preprocess"
    where they apply, and the format's extension."""
    stem = "model"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        stem = path.stem if path.suffix in (".pth", ".safetensors") else path.name or "model"
        if path.suffix == ".pth" and re.fullmatch(r".+_net_G", stem) and path.parent.name:
            stem = path.parent.name  # checkpoints/label2city_1024p/latest_net_G.pth
    suffix = ("-fp16" if precision == "fp16" else "") + ("-preprocess" if with_preprocess else "")
    return Path(stem + suffix + EXTENSIONS[fmt])


def require_extras(to: str, verify: bool) -> None:
    """MissingExtra, naming the extra, before any work when a module the export needs is absent."""
    if to in ("onnx", "engine"):
        require("onnx")
    if to == "onnx" and verify:
        require("onnxruntime")


def check_arguments(
    to: str,
    precision: str,
    opset: int,
    capabilities: Sequence[str],
    triton_repo: Any,
    tolerance: float | None,
) -> None:
    """Usage errors before any work."""
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
        return
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


def check_triton(
    triton_repo: str | os.PathLike[str] | None, triton_instances: str | None
) -> tuple[str, int] | None:
    """The parsed --triton-instances, or a usage error before any work."""
    instances = triton.parse_instances(triton_instances) if triton_instances else None
    if instances is not None and triton_repo is None:
        raise ExportUsageError("--triton-instances needs --triton-repo")
    if triton_repo is not None and Path(triton_repo).exists() and not Path(triton_repo).is_dir():
        raise ExportUsageError(f"--triton-repo {triton_repo} is not a folder")
    return instances


def check_out(
    out: str | os.PathLike[str] | None, source: Any, fmt: str, precision: str, preprocess: bool
) -> Path:
    """`out` (default: named after `source`), or a usage error before any work where it
    cannot be written: a folder, a device or a FIFO where the artifact or its sidecar would
    go, or a file where a folder must be."""
    out_path = Path(out) if out is not None else default_out(source, fmt, precision, preprocess)
    for path in (out_path, sidecar_path(out_path)):
        try:
            check_replaceable(path)
        except OSError as error:
            raise ExportUsageError(f"--out {path} {error.strerror}") from None
    for parent in out_path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise ExportUsageError(f"--out {out_path}: {parent} is a file, not a folder")
            break
    return out_path
