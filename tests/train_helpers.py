# SPDX-License-Identifier: Apache-2.0
"""Shared helpers of the training tests: a few synthetic scenes in the public layout and
options for networks small enough to train on two CPU cores in seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from p2phd.data.synthetic import synthetic_scene
from p2phd.train import make_options

HEIGHT, WIDTH = 64, 128


def write_scenes(root: Path, n: int, height: int = HEIGHT, width: int = WIDTH) -> Path:
    """n synthetic scenes as Cityscapes-named PNGs in root/train_{label,inst,img}."""
    for folder in ("train_label", "train_inst", "train_img"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for seed in range(n):
        labels, instances, image = synthetic_scene(seed, height, width)
        stem = f"synth_{seed:06d}"
        Image.fromarray(labels).save(root / "train_label" / f"{stem}_gtFine_labelIds.png")
        Image.fromarray(instances.astype(np.uint16)).save(
            root / "train_inst" / f"{stem}_gtFine_instanceIds.png"
        )
        Image.fromarray(image).save(root / "train_img" / f"{stem}_leftImg8bit.png")
    return root


def tiny_options(dataroot: Path, checkpoints: Path, name: str, **overrides: Any):
    options: dict[str, Any] = dict(
        dataroot=str(dataroot),
        checkpoints_dir=str(checkpoints),
        name=name,
        label_nc=35,
        ngf=8,
        ndf=8,
        n_downsample_global=2,
        n_blocks_global=1,
        n_layers_D=2,
        num_D=2,
        nef=8,
        n_downsample_E=2,
        resize_or_crop="none",
        no_vgg_loss=True,
        device="cpu",
        nThreads=0,
        print_freq=1,
        display_freq=1000,
        save_latest_freq=1000,
        quiet=True,
    )
    options.update(overrides)
    return make_options(**options)
