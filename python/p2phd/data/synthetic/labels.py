# SPDX-License-Identifier: Apache-2.0
"""Cityscapes labelIds, their colours, and colorize()."""

from __future__ import annotations

import numpy as np

from p2phd.ops import instance_class

# Cityscapes labelIds (cityscapesScripts labels.py).
UNLABELED = 0
EGO_VEHICLE = 1
ROAD = 7
SIDEWALK = 8
BUILDING = 11
WALL = 12
FENCE = 13
POLE = 17
TRAFFIC_LIGHT = 19
TRAFFIC_SIGN = 20
VEGETATION = 21
TERRAIN = 22
SKY = 23
PERSON = 24
RIDER = 25
CAR = 26
TRUCK = 27
BUS = 28
BICYCLE = 33

NUM_LABELS = 35
"""Label ids 0..34 are valid (pix2pixHD's ``label_nc`` for Cityscapes)."""

THING_LABELS = (24, 25, 26, 27, 28, 29, 30, 31, 32, 33)
"""Cityscapes classes with instances; their instance ids are ``label * 1000 + k``."""

# Standard Cityscapes colour of every labelId; id 34 (no Cityscapes class) is black.
CITYSCAPES_PALETTE = np.array(
    [
        (0, 0, 0),  # 0 unlabeled
        (0, 0, 0),  # 1 ego vehicle
        (0, 0, 0),  # 2 rectification border
        (0, 0, 0),  # 3 out of roi
        (0, 0, 0),  # 4 static
        (111, 74, 0),  # 5 dynamic
        (81, 0, 81),  # 6 ground
        (128, 64, 128),  # 7 road
        (244, 35, 232),  # 8 sidewalk
        (250, 170, 160),  # 9 parking
        (230, 150, 140),  # 10 rail track
        (70, 70, 70),  # 11 building
        (102, 102, 156),  # 12 wall
        (190, 153, 153),  # 13 fence
        (180, 165, 180),  # 14 guard rail
        (150, 100, 100),  # 15 bridge
        (150, 120, 90),  # 16 tunnel
        (153, 153, 153),  # 17 pole
        (153, 153, 153),  # 18 polegroup
        (250, 170, 30),  # 19 traffic light
        (220, 220, 0),  # 20 traffic sign
        (107, 142, 35),  # 21 vegetation
        (152, 251, 152),  # 22 terrain
        (70, 130, 180),  # 23 sky
        (220, 20, 60),  # 24 person
        (255, 0, 0),  # 25 rider
        (0, 0, 142),  # 26 car
        (0, 0, 70),  # 27 truck
        (0, 60, 100),  # 28 bus
        (0, 0, 90),  # 29 caravan
        (0, 0, 110),  # 30 trailer
        (0, 80, 100),  # 31 train
        (0, 0, 230),  # 32 motorcycle
        (119, 11, 32),  # 33 bicycle
        (0, 0, 0),  # 34 (none)
    ],
    dtype=np.uint8,
)
CITYSCAPES_PALETTE.setflags(write=False)


def colorize(labels: np.ndarray) -> np.ndarray:
    """Cityscapes colours of a labelId map: ``(..., H, W)`` ints -> ``(..., H, W, 3)`` uint8.

    Instance maps work too (ids >= 1000 are mapped to their class first)."""
    a = np.asarray(labels)
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"labels must be integers, got {a.dtype}")
    a = a.astype(np.int64)
    a = instance_class(a)
    if a.size and (a.min() < 0 or a.max() >= NUM_LABELS):
        raise ValueError(f"label ids must lie in [0, {NUM_LABELS})")
    return CITYSCAPES_PALETTE[a]
