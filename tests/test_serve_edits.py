# SPDX-License-Identifier: Apache-2.0
"""The editor's pure map edits against slow obvious definitions."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from p2phd.serve import edits
from p2phd.serve.errors import ClientError


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


def stroke_distance(points, height, width):
    """Each pixel centre's distance to the polyline, segment by segment."""
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    distance = np.full((height, width), np.inf)
    xy = np.asarray(points, np.float64)
    pairs = zip(xy[:-1], xy[1:], strict=True) if len(xy) > 1 else [(xy[0], xy[0])]
    for (x0, y0), (x1, y1) in pairs:
        dx, dy = x1 - x0, y1 - y0
        length2 = dx * dx + dy * dy
        t = 0 if length2 == 0 else np.clip(((xs - x0) * dx + (ys - y0) * dy) / length2, 0, 1)
        distance = np.minimum(distance, np.hypot(xs - (x0 + t * dx), ys - (y0 + t * dy)))
    return distance


def test_stroke_mask_is_exact_for_any_segments():
    rng = np.random.default_rng(1)
    for trial in range(150):
        height, width = (int(side) for side in rng.integers(5, 40, 2))
        points = rng.uniform(-10, 50, (int(rng.integers(1, 5)), 2)).round(int(trial % 3))
        if trial % 5 == 0:
            points[:, 0] = points[0, 0]  # vertical segments
        if trial % 7 == 0:
            points[:, 1] = points[0, 1]  # horizontal ones
        radius = float(rng.choice([0.3, 0.5, 1, 2.5, 7, 30]))
        found = edits.stroke_mask(points.tolist(), radius, height, width)
        full = np.zeros((height, width), bool)
        if found is not None:
            full[found[0].slices] = found[1]
        distance = stroke_distance(points, height, width)
        # Exact but for pixel centres on the very edge, where rounding decides.
        differ = full != (distance <= radius)
        assert np.all(np.abs(distance[differ] - radius) < 1e-9), trial


def test_a_stroke_past_the_row_budget_is_413():
    points = [(0.0, 0.0), (2047.0, 2047.0)] * 1100  # every segment spans the whole map
    with pytest.raises(ClientError) as refused:
        edits.stroke_mask(points, 1, 2048, 2048)
    assert refused.value.status == 413 and "smaller radius" in refused.value.message
    wide = [(float(x), 100.0) for x in range(0, 512, 2)]  # 256 points, radius 512: allowed
    box, mask = edits.stroke_mask(wide, 512, 256, 512)
    assert mask.all() and (box.bottom - box.top, box.right - box.left) == (256, 512)


def test_connected_region_is_exact_on_random_maps_and_stripes():
    rng = np.random.default_rng(2)
    for trial in range(80):
        height, width = (int(side) for side in rng.integers(1, 30, 2))
        labels = rng.random((height, width)) < rng.uniform(0.3, 0.8)
        y, x = int(rng.integers(0, height)), int(rng.integers(0, width))
        same = labels == labels[y, x]
        assert np.array_equal(edits.connected_region(same, y, x), brute_region(same, y, x)), trial
    # 1-pixel stripes joined by a row (a comb) and in a serpentine: one region each.
    comb = np.zeros((64, 96), bool)
    comb[:, ::2], comb[-1] = True, True
    assert np.array_equal(edits.connected_region(comb, 0, 0), comb)
    snake = np.zeros((64, 96), bool)
    snake[:, ::2], snake[0, 1::4], snake[-1, 3::4] = True, True, True
    assert np.array_equal(edits.connected_region(snake, 0, 0), snake)
