# SPDX-License-Identifier: Apache-2.0
"""The segmenter on disk: a folder with `config.json` and `weights.safetensors`, the one
shipped in the package (`p2phd/segmenter/`) by default."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from p2phd.atomic import atomic_paths
from p2phd.models.segmenter import Segmenter, SegmenterConfig
from p2phd.quality.scoring import confusion_matrix

FORMAT = "p2phd-segmenter"
VERSION = 1
SHIPPED = Path(__file__).resolve().parent.parent / "segmenter"
"""The segmenter trained by tools/train_segmenter.py and shipped with the package."""


def save_segmenter(
    model: Segmenter, path: str | os.PathLike[str], training: dict[str, Any] | None = None
) -> Path:
    """Write `path/config.json` and `path/weights.safetensors`; each file appears whole or
    not at all. `training` (how it was trained) is kept in the config for the record."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    description = {
        "format": FORMAT,
        "version": VERSION,
        "segmenter": model.config.to_dict(),
        "training": training or {},
    }
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    targets = (folder / "weights.safetensors", folder / "config.json")
    with atomic_paths(*targets, clean_stale=True) as (weights, config):
        save_file(state, str(weights))
        config.write_text(json.dumps(description, indent=2) + "\n")
    return folder


def load_segmenter(
    path: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu"
) -> Segmenter:
    """The segmenter saved in folder `path` (default: the shipped one), in eval mode."""
    folder = Path(path) if path is not None else SHIPPED
    config_path = folder / "config.json"
    try:
        description = json.loads(config_path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no segmenter at {folder} (missing config.json)") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{config_path} is not valid JSON: {error}") from None
    if not isinstance(description, dict) or description.get("format") != FORMAT:
        raise ValueError(f"{config_path} does not describe a {FORMAT}")
    if description.get("version") != VERSION:
        raise ValueError(f"{config_path}: unsupported version {description.get('version')!r}")
    model = Segmenter(SegmenterConfig.from_dict(description["segmenter"]))
    model.load_state_dict(load_file(folder / "weights.safetensors"))
    return model.to(device).eval()


def segmentation_confusion(
    segmenter: Segmenter, label_maps: Iterable[np.ndarray], images: Iterable[np.ndarray]
) -> np.ndarray:
    """The confusion matrix (truth rows, predicted columns) of `segmenter` on `images` (uint8
    H x W x 3 each) against `label_maps`: what pix2pixHD's score is computed from."""
    num_classes = segmenter.config.label_nc
    confusion = np.zeros((num_classes, num_classes), np.int64)
    for labels, image in zip(label_maps, images, strict=True):
        predicted = segmenter.predict(torch.from_numpy(image)[None])[0].cpu().numpy()
        confusion += confusion_matrix(labels, predicted, num_classes)
    return confusion
