# SPDX-License-Identifier: Apache-2.0
"""Reading and writing weights + config: public pix2pixHD files and p2phd bundles.

- `public`: the files the public pix2pixHD code writes (`latest_net_G.pth`, `_net_E.pth`),
  their architecture read off the tensor shapes (`architecture`);
- `clusters`: `features_clustered_NNN.npy`, read without running code from the pickle;
- `bundle`: p2phd's own format, safetensors weights + a JSON description;
- `p2phd.atomic`: every file is written atomically, with the user's umask.

`load(source)` takes any of them, or a model name: "demo" is the small model shipped with
p2phd (trained on synthetic street scenes).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from p2phd.checkpoint.architecture import infer_encoder_config, infer_generator_config
from p2phd.checkpoint.bundle import (
    BUNDLE_FORMAT,
    is_bundle,
    load_bundle,
    model_digest,
    save_bundle,
)
from p2phd.checkpoint.clusters import load_clusters, save_clusters
from p2phd.checkpoint.model import CheckpointError, Clusters, LoadedModel
from p2phd.checkpoint.public import export_public, load_public

__all__ = [
    "BUNDLE_FORMAT",
    "MODEL_NAMES",
    "CheckpointError",
    "Clusters",
    "LoadedModel",
    "bundle_to_public",
    "export_public",
    "infer_encoder_config",
    "infer_generator_config",
    "load",
    "load_bundle",
    "load_clusters",
    "load_public",
    "model_digest",
    "public_to_bundle",
    "resolve_model",
    "save_bundle",
    "save_clusters",
]

# Models known by name: a bare name (not "./demo") means the model shipped with p2phd.
MODEL_NAMES = {"demo": Path(__file__).resolve().parent.parent / "demo"}

MODEL_KINDS = (
    "a public pix2pixHD checkpoint (a folder with latest_net_G.pth, or a *_net_G.pth file), "
    "a p2phd bundle (a folder with config.json + weights.safetensors, or a .safetensors "
    "file), an ONNX file (.onnx) or a TensorRT engine (.engine, .plan, .trt) written by "
    "p2phd-export, or a model name: " + ", ".join(MODEL_NAMES)
)


def resolve_model(source: str | os.PathLike[str]) -> Path:
    """The path of a model given by path or by name ("demo"); FileNotFoundError listing what
    a model may be when there is nothing at `source`."""
    if isinstance(source, str) and source in MODEL_NAMES:
        return MODEL_NAMES[source]
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{source}: no such model; a MODEL is {MODEL_KINDS}")
    return path


def load(path: str | os.PathLike[str], **public_options: Any) -> LoadedModel:
    """Load a bundle or a public checkpoint, whichever `path` is (or a model name, "demo").

    `public_options` (label_nc, use_instance, feat_num, instance_feat, which_epoch, clusters)
    apply to public checkpoints only; a bundle carries its own configuration.
    """
    path = resolve_model(path)
    if is_bundle(path):
        if public_options:
            raise TypeError(
                f"a bundle carries its own configuration; unexpected {sorted(public_options)}"
            )
        return load_bundle(path)
    return load_public(path, **public_options)


def public_to_bundle(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    **public_options: Any,
) -> LoadedModel:
    """Convert a public checkpoint to a bundle in one call; returns the loaded model."""
    model = load_public(source, **public_options)
    save_bundle(model, destination)
    return model


def bundle_to_public(
    source: str | os.PathLike[str],
    directory: str | os.PathLike[str],
    **export_options: Any,
) -> dict[str, Path]:
    """Write a bundle back out as public pix2pixHD files (see export_public)."""
    return export_public(load_bundle(source), directory, **export_options)
