# SPDX-License-Identifier: Apache-2.0
"""Procedural street scenes in Cityscapes conventions, with no data set to download.

``synthetic_scene(seed, height, width)`` draws a label map, an instance map and a matching
RGB image of a street seen from a car: sky, road with lane markings, sidewalks, building
facades with windows, trees and hedges, poles, traffic signs and lights, parked and moving
cars, trucks, buses, pedestrians (often in groups) and cyclists.

Conventions are those of Cityscapes ``gtFine``:

- ``labels`` holds *labelIds* (0..33; 35 classes, ids 0..34, as pix2pixHD's ``label_nc=35``).
- ``instances`` holds the label id for stuff pixels and ``label * 1000 + k`` for the pixels
  of the k-th visible instance of a thing class (person, rider, car, truck, bus, bicycle),
  k = 0, 1, 2, ... in drawing order, so ``class = i if i < 1000 else i // 1000``. Unlike
  real gtFine there are no crowd/group regions: every thing pixel has an instance.
- About half the frames show the ego vehicle's bonnet (label 1) at the bottom, as most
  Cityscapes frames do.

Example::

    from p2phd.data.synthetic import synthetic_scene, colorize
    labels, instances, image = synthetic_scene(seed=0, height=256, width=512)
    preview = colorize(labels)  # H x W x 3 uint8 in Cityscapes colours

The scene is laid out in metres on a ground plane and projected with a pinhole camera
(horizon line, vanishing point, objects shrink with distance); a depth buffer decides
visibility, so overlapping objects occlude each other correctly. Everything is vectorised
numpy on bounding boxes; the only loops are over objects. The result depends only on
``(seed, height, width)``.
"""

from __future__ import annotations

from p2phd.data.synthetic.labels import (
    BICYCLE,
    BUILDING,
    BUS,
    CAR,
    CITYSCAPES_PALETTE,
    EGO_VEHICLE,
    FENCE,
    NUM_LABELS,
    PERSON,
    POLE,
    RIDER,
    ROAD,
    SIDEWALK,
    SKY,
    TERRAIN,
    THING_LABELS,
    TRAFFIC_LIGHT,
    TRAFFIC_SIGN,
    TRUCK,
    UNLABELED,
    VEGETATION,
    WALL,
    colorize,
)
from p2phd.data.synthetic.scene import SyntheticScene, synthetic_scene

__all__ = [
    "BICYCLE",
    "BUILDING",
    "BUS",
    "CAR",
    "CITYSCAPES_PALETTE",
    "EGO_VEHICLE",
    "FENCE",
    "NUM_LABELS",
    "PERSON",
    "POLE",
    "RIDER",
    "ROAD",
    "SIDEWALK",
    "SKY",
    "SyntheticScene",
    "TERRAIN",
    "THING_LABELS",
    "TRAFFIC_LIGHT",
    "TRAFFIC_SIGN",
    "TRUCK",
    "UNLABELED",
    "VEGETATION",
    "WALL",
    "colorize",
    "synthetic_scene",
]
