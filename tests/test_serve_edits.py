# SPDX-License-Identifier: Apache-2.0
"""The editor's pure map edits against slow obvious definitions."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from p2phd.serve import edits


def brute_stroke(points, radius, height, width):
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    mask = np.zeros((height, width), bool)
    pairs = list(zip(points[:-1], points[1:], strict=True)) or [(points[0], points[0])]
    for (x0, y0), (x1, y1) in pairs:
        for t in np.linspace(0, 1, 400):
            x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
            mask |= (xs - x) ** 2 + (ys - y) ** 2 <= radius * radius
    return mask


@pytest.mark.parametrize(
    ("points", "radius"),
    [([(10.0, 10.0)], 3.0), ([(2.0, 3.0), (40.0, 20.0), (45.0, 2.0)], 2.5), ([(-5, 5), (5, 5)], 2)],
)
def test_stroke_mask_is_the_thick_polyline(points, radius):
    box, mask = edits.stroke_mask(points, radius, 24, 48)
    full = np.zeros((24, 48), bool)
    full[box.slices] = mask
    expected = brute_stroke(points, radius, 24, 48)
    # The brute force samples the segment: it may miss pixels within a hair of the edge.
    assert (expected & ~full).sum() == 0 and (full & ~expected).sum() <= 2
    assert edits.stroke_mask([(-50.0, -50.0)], 3, 24, 48) is None


def brute_region(same, y, x):
    region = np.zeros_like(same)
    queue = deque([(y, x)])
    region[y, x] = True
    while queue:
        cy, cx = queue.popleft()
        for ny, nx in ((cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)):
            if 0 <= ny < same.shape[0] and 0 <= nx < same.shape[1]:
                if same[ny, nx] and not region[ny, nx]:
                    region[ny, nx] = True
                    queue.append((ny, nx))
    return region


def test_connected_region_matches_a_pixel_search():
    rng = np.random.default_rng(0)
    labels = (rng.random((40, 60)) < 0.55).astype(np.uint8)
    for y, x in [(0, 0), (20, 30), (39, 59), (5, 40)]:
        same = labels == labels[y, x]
        assert np.array_equal(edits.connected_region(same, y, x), brute_region(same, y, x))


def test_surrounding_fill_and_shift():
    labels = np.full((8, 8), 7, np.uint8)
    instances = np.full((8, 8), 7, np.int32)
    labels[2:5, 2:5], instances[2:5, 2:5] = 26, 26000
    labels[2:5, 5], instances[2:5, 5] = 8, 8  # 3 sidewalk pixels touch it, 9 road pixels
    mask = instances == 26000
    assert edits.surrounding_fill(labels, instances, mask) == (7, 7)
    assert edits.surrounding_fill(labels, instances, np.ones((8, 8), bool)) == (0, 0)
    moved = edits.shifted(mask, 3, -2)
    assert edits.mask_box(moved) == edits.Box(0, 3, 5, 8)
    assert not edits.shifted(mask, 8, 0).any()
