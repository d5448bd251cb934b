# SPDX-License-Identifier: Apache-2.0
"""Opening a model for a Runtime: a checkpoint or an exported file, on the backend chosen."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from p2phd import checkpoint
from p2phd.models import GeneratorConfig
from p2phd.runtime import artifacts, openvino_backend
from p2phd.runtime.devices import resolve_device
from p2phd.runtime.fused_backend import FusedBackend
from p2phd.runtime.onnx_backend import OnnxBackend
from p2phd.runtime.openvino_backend import OpenVinoBackend, OpenVinoUnavailable
from p2phd.runtime.tensorrt_backend import TensorRTBackend
from p2phd.runtime.torch_backend import TorchBackend
from p2phd.runtime.torchscript_backend import TorchScriptBackend
from p2phd.sidecar import check_onnx, clusters_from_sidecar, onnx_io, read_sidecar

Backend = (
    TorchBackend
    | FusedBackend
    | OnnxBackend
    | OpenVinoBackend
    | TensorRTBackend
    | TorchScriptBackend
)
# OpenVINO's (threads, openvino_config) as the Runtime was given them.
OpenVinoOptions = tuple[int | None, Mapping[str, Any] | None]


@dataclass
class OpenedModel:
    """What a Runtime renders with: the backend and what it learnt opening the model."""

    backend: Backend
    config: GeneratorConfig
    clusters: dict[int, np.ndarray] | None = None
    encoder: torch.nn.Module | None = None
    encoder_stride: int = 1
    # (N, H, W) an artifact exported at a fixed size takes; None where any size goes.
    fixed_shape: tuple[int, int, int] | None = None
    # Set for checkpoints; an artifact's file digest is computed on first use.
    model_digest: str | None = None


def open_checkpoint(
    path: Path,
    backend: str,
    device: str | torch.device,
    precision: str,
    fused_options: tuple[bool | None, str | None],
    openvino_options: OpenVinoOptions,
    config: dict,
) -> OpenedModel:
    """A public checkpoint or bundle on the torch, fused or openvino backend ("auto":
    openvino on a CPU, with a warning and torch where OpenVINO cannot run it)."""
    if backend not in ("auto", "torch", "fused", "openvino"):
        raise ValueError(
            f"backend {backend!r} runs an exported model: export {path} with p2phd-export "
            "and pass the .onnx or engine file"
        )
    model = checkpoint.load(path, **config)
    # Before the backend takes the generator: moving it to a device or dtype is in place.
    digest = checkpoint.model_digest(model)
    resolved = resolve_device(device)
    if backend == "openvino" and resolved.type != "cpu":
        raise ValueError(f"the openvino backend renders on the CPU, not on {resolved}")
    if precision == "auto":
        precision = "fp16" if resolved.type == "cuda" else "fp32"
    encoder, encoder_stride = None, 1
    if model.encoder is not None:
        encoder = model.encoder.eval().requires_grad_(False).to(resolved)
        if model.encoder_config is not None:
            encoder_stride = 2**model.encoder_config.n_downsample
    return OpenedModel(
        backend=_checkpoint_backend(
            path.name, model, backend, resolved, precision, fused_options, openvino_options
        ),
        config=model.config,
        clusters=model.clusters,
        encoder=encoder,
        encoder_stride=encoder_stride,
        model_digest=digest,
    )


def _checkpoint_backend(
    name: str,
    model: checkpoint.LoadedModel,
    backend: str,
    device: torch.device,
    precision: str,
    fused_options: tuple[bool | None, str | None],
    openvino_options: OpenVinoOptions,
) -> Backend:
    if backend == "fused":
        return FusedBackend(model.generator, model.config, device, precision, *fused_options)
    if backend == "openvino" or (backend == "auto" and device.type == "cpu"):
        try:
            return openvino_backend.from_generator(
                name, model.generator, model.config, precision, *openvino_options
            )
        except OpenVinoUnavailable as error:
            if backend == "openvino":
                raise
            # stacklevel 4: past open_checkpoint and Runtime.__init__, to who built the Runtime.
            warnings.warn(f"{name} renders on the torch backend: {error}", RuntimeWarning, 4)
    return TorchBackend(model.generator, device, precision)


def open_artifact(
    path: Path,
    backend: str,
    device: str | torch.device,
    precision: str,
    openvino_options: OpenVinoOptions,
    config: dict,
) -> OpenedModel:
    """An exported file (artifacts.SUFFIXES) with its sidecar, or without one the
    GeneratorConfig fields in `config`; "auto" picks the backend as artifact_backend says."""
    kind = artifacts.artifact_backend(path, backend, device)
    sidecar = read_sidecar(path, required=kind == "torchscript")
    clusters = config.pop("clusters", None)
    fixed_shape = None
    if sidecar is not None:
        generator_config = GeneratorConfig.from_dict(sidecar["config"])
        table = clusters_from_sidecar(sidecar, generator_config.feat_num)
        shape = sidecar["inputs"][0]["shape"]
        if all(isinstance(size, int) for size in shape):
            fixed_shape = (shape[0], shape[-2], shape[-1])
    elif config:
        generator_config, table = GeneratorConfig(**config), None
    else:
        raise ValueError(
            f"{path}: no sidecar {path.name}.json (p2phd-export writes one); pass the "
            "model's GeneratorConfig fields (label_nc=..., use_instance=..., ...) instead"
        )
    if clusters is not None:
        table = checkpoint.load_clusters(clusters, feat_num=generator_config.feat_num)
    if path.suffix == ".onnx":  # the graph against its sidecar, whichever backend runs it
        if sidecar is not None:
            check_onnx(path, sidecar)
        else:
            inputs = onnx_io(path)[0]
            maps = "labels" in [i["name"] for i in inputs]
            check_graph_inputs(path, inputs, maps, generator_config)
    chosen = _artifact_backend(path, kind, backend, device, precision, openvino_options, sidecar)
    return OpenedModel(
        backend=chosen,
        config=generator_config,
        clusters=table,
        fixed_shape=fixed_shape,
    )


def _artifact_backend(
    path: Path,
    kind: str,
    backend: str,
    device: str | torch.device,
    precision: str,
    openvino_options: OpenVinoOptions,
    sidecar: dict | None,
) -> Backend:
    if kind == "openvino":
        try:
            return openvino_backend.from_file(
                path,
                "fp32" if precision == "auto" else precision,
                *openvino_options,
                sidecar=sidecar,
            )
        except OpenVinoUnavailable as error:
            if backend == "openvino" or path.suffix != ".onnx":
                raise
            # stacklevel 4: past open_artifact and Runtime.__init__, to who built the Runtime.
            warnings.warn(f"{path.name} runs on onnxruntime: {error}", RuntimeWarning, 4)
            kind = "onnxruntime"
    loaded = artifacts.exported_backend(path, kind, device, sidecar)
    if precision not in ("auto", loaded.precision):
        raise ValueError(
            f"{path.name} is a {loaded.precision} export, which the {kind} backend runs "
            f"as it is: precision={precision!r} needs backend='openvino' (on the CPU) or "
            "an export in that precision"
        )
    return loaded


def check_graph_inputs(
    path: Path, inputs: list[dict[str, Any]], maps: bool, c: GeneratorConfig
) -> None:
    """ValueError when a graph without a sidecar takes other inputs than the config given
    for it means: the channels of one-hot labels + instance edges + features, or for a
    graph with its preprocessing, the instance and feature maps."""
    given = f"label_nc={c.label_nc}, use_instance={c.use_instance}, feature_nc={c.feature_nc}"
    if maps:
        names = [entry["name"] for entry in inputs]
        wanted = ["labels"] + ["instances"] * c.use_instance + ["features"] * bool(c.feature_nc)
        if names != wanted:
            raise ValueError(
                f"{path.name} takes the inputs {names}, but {given} mean {wanted}: pass "
                "the options the model was trained with"
            )
        return
    shape = inputs[0]["shape"]
    channels = shape[1] if len(shape) == 4 else None
    if isinstance(channels, int) and channels != c.input_nc:
        raise ValueError(
            f"{path.name} takes {channels} input channels, but {given} make "
            f"{c.input_nc}: pass the options the model was trained with"
        )
