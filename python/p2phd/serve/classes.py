# SPDX-License-Identifier: Apache-2.0
"""Class names, colours and thing/stuff kinds of a model's labels, for the editor."""

from __future__ import annotations

import numpy as np

from p2phd.data.synthetic import CITYSCAPES_PALETTE, THING_LABELS

# Cityscapes labelIds 0..33 (cityscapesScripts), and 34, which pix2pixHD's label_nc=35 counts.
CITYSCAPES_NAMES = (
    "unlabeled",
    "ego vehicle",
    "rectification border",
    "out of roi",
    "static",
    "dynamic",
    "ground",
    "road",
    "sidewalk",
    "parking",
    "rail track",
    "building",
    "wall",
    "fence",
    "guard rail",
    "bridge",
    "tunnel",
    "pole",
    "polegroup",
    "traffic light",
    "traffic sign",
    "vegetation",
    "terrain",
    "sky",
    "person",
    "rider",
    "car",
    "truck",
    "bus",
    "caravan",
    "trailer",
    "train",
    "motorcycle",
    "bicycle",
    "(none)",
)


class LabelSet:
    """Names, RGB colours and which classes have instances, for a model of `label_nc` labels:
    Cityscapes' for 35, generated colours and plain numbers otherwise."""

    def __init__(self, label_nc: int) -> None:
        self.label_nc = label_nc
        if label_nc == len(CITYSCAPES_NAMES):
            self.names = list(CITYSCAPES_NAMES)
            self.palette = np.array(CITYSCAPES_PALETTE)
            self.things = frozenset(THING_LABELS)
        else:
            self.names = [f"class {index}" for index in range(label_nc)]
            self.palette = _spread_palette(label_nc)
            self.things = frozenset()

    def is_thing(self, label: int) -> bool:
        return label in self.things

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        """H x W label ids (already checked to lie in range) -> H x W x 3 uint8."""
        return self.palette[labels]


def _spread_palette(count: int) -> np.ndarray:
    """Distinct colours by spreading the bits of each id over R, G and B (0 is black)."""
    palette = np.zeros((count, 3), np.uint8)
    for index in range(count):
        value, r, g, b = index, 0, 0, 0
        for bit in range(8):
            r |= ((value >> 0) & 1) << (7 - bit)
            g |= ((value >> 1) & 1) << (7 - bit)
            b |= ((value >> 2) & 1) << (7 - bit)
            value >>= 3
        palette[index] = (r, g, b)
    return palette
