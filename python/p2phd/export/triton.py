# SPDX-License-Identifier: Apache-2.0
"""Triton model repositories that a stock Triton server loads.

ONNX -> `onnxruntime_onnx`, TorchScript -> `pytorch_libtorch`, engines built by full TensorRT
-> `tensorrt_plan`. A TensorRT-for-RTX engine is refused: Triton's TensorRT backend is full
TensorRT, which cannot deserialize engines of TensorRT for RTX.

Layout: `<repo>/<name>/config.pbtxt` and `<repo>/<name>/<version>/model.<ext>` (+ its sidecar);
each export adds the next version and never overwrites one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from p2phd.atomic import atomic_write, remove_dead_temporaries, temporary_folder
from p2phd.export.common import ExportUsageError
from p2phd.sidecar import sidecar_path

TRITON_TYPES = {
    "float32": "TYPE_FP32",
    "float16": "TYPE_FP16",
    "int32": "TYPE_INT32",
    "uint8": "TYPE_UINT8",
}
INSTANCE_KINDS = {"gpu": "KIND_GPU", "cpu": "KIND_CPU", "model": "KIND_MODEL"}
RTX_REFUSAL = (
    "a TensorRT-for-RTX engine cannot go into a Triton repository: Triton's TensorRT backend "
    "is full TensorRT, which cannot deserialize TensorRT-for-RTX engines. Use --to onnx "
    "(platform onnxruntime_onnx, which Triton can also accelerate with TensorRT) or "
    "--to torchscript, or build the engine with full TensorRT (module `tensorrt`) on a GPU "
    "like the serving one"
)


def parse_instances(text: str) -> tuple[str, int]:
    """'gpu:2' -> ('KIND_GPU', 2); KIND is gpu, cpu or model, COUNT >= 1."""
    kind, _, count = text.partition(":")
    if kind.lower() not in INSTANCE_KINDS or not count.isdigit() or int(count) < 1:
        raise ExportUsageError(
            f"--triton-instances takes KIND:COUNT with KIND gpu, cpu or model and COUNT >= 1, "
            f"got {text!r}"
        )
    return INSTANCE_KINDS[kind.lower()], int(count)


def triton_names(sidecar: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Input and output names in config.pbtxt: the artifact's own, except TorchScript, whose
    tensors Triton's libtorch backend names by position (`<name>__<index>`)."""
    inputs = [entry["name"] for entry in sidecar["inputs"]]
    outputs = [entry["name"] for entry in sidecar["outputs"]]
    if sidecar["format"] == "torchscript":
        inputs = [f"{name}__{i}" for i, name in enumerate(inputs)]
        outputs = [f"{name}__{i}" for i, name in enumerate(outputs)]
    return inputs, outputs


def config_text(
    name: str, sidecar: Mapping[str, Any], platform: str, instances: tuple[str, int] | None
) -> str:
    """config.pbtxt of an artifact described by `sidecar`."""
    dynamic = sidecar["shape_range"] is not None
    max_batch = sidecar["shape_range"]["max"][0] if dynamic else 0
    input_names, output_names = triton_names(sidecar)

    def tensor_block(entry: Mapping[str, Any], triton_name: str) -> str:
        shape = entry["shape"]
        if dynamic:
            shape = shape[1:]  # Triton's batch dimension is implicit when max_batch_size > 0
        dims = ", ".join("-1" if isinstance(d, str) else str(d) for d in shape)
        return (
            f'  {{\n    name: "{triton_name}"\n'
            f"    data_type: {TRITON_TYPES[entry['dtype']]}\n    dims: [ {dims} ]\n  }}"
        )

    inputs = ",\n".join(map(tensor_block, sidecar["inputs"], input_names))
    outputs = ",\n".join(map(tensor_block, sidecar["outputs"], output_names))
    text = (
        f'name: "{name}"\nplatform: "{platform}"\nmax_batch_size: {max_batch}\n'
        f"input [\n{inputs}\n]\noutput [\n{outputs}\n]\n"
    )
    if dynamic:
        text += "dynamic_batching { }\n"
    if instances is None and sidecar["format"] == "engine":
        instances = ("KIND_GPU", 1)  # a plan runs on a GPU only
    if instances is not None:
        text += f"instance_group [ {{ kind: {instances[0]}, count: {instances[1]} }} ]\n"
    return text


def check_artifact(fmt: str, trt_module: str | None) -> None:
    """Refuse, before anything is built, what a stock Triton server cannot load."""
    if fmt == "engine" and trt_module != "tensorrt":
        raise ExportUsageError(RTX_REFUSAL)


def next_version(model_dir: Path) -> int:
    """1 + the largest numeric version directory (1 in a new model)."""
    if not model_dir.is_dir():
        return 1
    versions = [int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()]
    return max(versions, default=0) + 1


def write_triton(
    repo: Path,
    name: str,
    artifact: Path,
    sidecar: Mapping[str, Any],
    instances: tuple[str, int] | None = None,
) -> Path:
    """Add `artifact` as the next version of model `name` in `repo`; returns the version dir."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ExportUsageError(f"Triton model name {name!r}: use letters, digits, _ . - only")
    fmt = sidecar["format"]
    check_artifact(fmt, (sidecar.get("versions") or {}).get("tensorrt_module"))
    platform, filename = {
        "onnx": ("onnxruntime_onnx", "model.onnx"),
        "torchscript": ("pytorch_libtorch", "model.pt"),
        "engine": ("tensorrt_plan", "model.plan"),
    }[fmt]
    model_dir = repo / name
    model_dir.mkdir(parents=True, exist_ok=True)
    remove_dead_temporaries(model_dir)  # a killed export's half-filled version folder
    version_dir = model_dir / str(next_version(model_dir))
    # The version directory appears complete or not at all: filled under a temporary name,
    # then renamed (which fails rather than replace a version that appeared meanwhile).
    staging = temporary_folder(version_dir)
    try:
        shutil.copyfile(artifact, staging / filename)
        text = json.dumps(sidecar, indent=2) + "\n"
        sidecar_path(staging / filename).write_text(text)
        os.rename(staging, version_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    config = config_text(name, sidecar, platform, instances)
    with atomic_write(model_dir / "config.pbtxt", clean_stale=True) as handle:
        handle.write(config.encode())
    return version_dir
