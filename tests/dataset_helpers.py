# SPDX-License-Identifier: Apache-2.0
"""Small synthetic datasets in the public test layout, for the folder-render tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from p2phd.data.synthetic import synthetic_scene


def write_test_dataset(root: Path, count: int, height: int, width: int) -> Path:
    """`count` synthetic scenes as root/test_label/*_labelIds.png + root/test_inst/
    *_instanceIds.png (16-bit), under Cityscapes-style names."""
    for seed in range(count):
        scene = synthetic_scene(seed, height, width)
        stem = f"city_{seed:06d}_000019_gtFine"
        for folder, array, kind in (
            ("test_label", scene.labels, "labelIds"),
            ("test_inst", scene.instances.astype(np.uint16), "instanceIds"),
        ):
            (root / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(root / folder / f"{stem}_{kind}.png")
    return root
