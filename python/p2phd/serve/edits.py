# SPDX-License-Identifier: Apache-2.0
"""The editor's edits as pure functions on H x W maps: each returns the rectangle it changes
and the new labels and instance ids inside it, so a session can keep undo history as
small patches rather than whole maps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from p2phd.serve.errors import ClientError


@dataclass(frozen=True)
class Box:
    """Rows [top, bottom) and columns [left, right)."""

    top: int
    bottom: int
    left: int
    right: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.bottom), slice(self.left, self.right)

    def union(self, other: Box) -> Box:
        return Box(
            min(self.top, other.top),
            max(self.bottom, other.bottom),
            min(self.left, other.left),
            max(self.right, other.right),
        )


def mask_box(mask: np.ndarray) -> Box | None:
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if rows.size == 0:
        return None
    return Box(int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)


# A stroke's cost is the pixel rows its segments span: at most this many (the page's longest
# strokes span a tenth of it), worked on this many at a time to bound the temporary arrays.
MAX_STROKE_ROWS = 1 << 21
STROKE_CHUNK_ROWS = 1 << 18


def stroke_mask(
    points: list[tuple[float, float]], radius: float, height: int, width: int
) -> tuple[Box, np.ndarray] | None:
    """Pixels whose centre lies within `radius` of the polyline through `points` (x, y in
    pixels): the box they fill and the mask inside it, or None when all fall outside.

    Each segment's thick line (a capsule, convex) meets each pixel row in one interval of
    columns, found in closed form: the cost is the rows the segments span (a 413 past
    MAX_STROKE_ROWS) plus the box's pixels."""
    xy = np.asarray(points, np.float64).reshape(-1, 2)
    box = Box(
        max(0, int(np.floor(xy[:, 1].min() - radius))),
        min(height, int(np.ceil(xy[:, 1].max() + radius)) + 1),
        max(0, int(np.floor(xy[:, 0].min() - radius))),
        min(width, int(np.ceil(xy[:, 0].max() + radius)) + 1),
    )
    if box.top >= box.bottom or box.left >= box.right:
        return None
    starts = xy if len(xy) == 1 else xy[:-1]
    ends = xy if len(xy) == 1 else xy[1:]
    # The rows (pixel centres at row + 0.5) each segment's capsule reaches, within the box.
    low = np.minimum(starts[:, 1], ends[:, 1]) - radius - 0.5
    high = np.maximum(starts[:, 1], ends[:, 1]) + radius - 0.5
    first = np.clip(np.ceil(low), box.top, box.bottom).astype(np.int64)
    last = np.clip(np.floor(high), box.top - 1, box.bottom - 1).astype(np.int64)
    counts = np.maximum(last - first + 1, 0)
    if counts.sum() > MAX_STROKE_ROWS:
        raise ClientError(
            413,
            f"this stroke spans {int(counts.sum())} pixel rows (segments x thickness), more "
            f"than this server's {MAX_STROKE_ROWS}: split it, or paint with a smaller radius",
        )
    box_width = box.right - box.left
    coverage = np.zeros((box.bottom - box.top) * (box_width + 1), np.int64)
    segment = 0
    while segment < len(counts):
        # Whole segments, up to STROKE_CHUNK_ROWS rows (at least one segment) at a time.
        stop = int(np.searchsorted(np.cumsum(counts[segment:]), STROKE_CHUNK_ROWS, "right"))
        stop = segment + max(stop, 1)
        coverage += _stroke_coverage(
            starts[segment:stop],
            ends[segment:stop],
            first[segment:stop],
            counts[segment:stop],
            radius,
            box,
            coverage.size,
        )
        segment = stop
    mask = np.cumsum(coverage.reshape(-1, box_width + 1), axis=1)[:, :-1] > 0
    found = mask_box(mask)
    if found is None:
        return None
    inner = Box(
        box.top + found.top, box.top + found.bottom, box.left + found.left, box.left + found.right
    )
    return inner, mask[found.slices]


def _stroke_coverage(
    starts: np.ndarray,
    ends: np.ndarray,
    first: np.ndarray,
    counts: np.ndarray,
    radius: float,
    box: Box,
    size: int,
) -> np.ndarray:
    """+1 where each segment's interval on each of its rows starts, -1 after it ends, over
    the box's rows of width + 1: a running sum along a row counts the capsules covering a
    pixel."""
    segment = np.repeat(np.arange(len(counts)), counts)
    row = first[segment] + np.arange(len(segment)) - np.repeat(np.cumsum(counts) - counts, counts)
    (x0, y0), (x1, y1) = starts[segment].T, ends[segment].T
    yc = row + 0.5
    lefts, rights = [], []
    for cx, cy in ((x0, y0), (x1, y1)):  # the round caps
        half = np.sqrt(np.maximum(radius * radius - (yc - cy) ** 2, 0))
        inside = (yc - cy) ** 2 <= radius * radius
        lefts.append(np.where(inside, cx - half, np.inf))
        rights.append(np.where(inside, cx + half, -np.inf))
    # The band between the caps: 0 <= along <= length and |across| <= radius, each linear in
    # x along the row: an interval of x, or all or nothing where its slope is 0.
    dx, dy = x1 - x0, y1 - y0
    length = np.hypot(dx, dy)
    with np.errstate(divide="ignore", invalid="ignore"):
        ux, uy = dx / length, dy / length
        ey = yc - y0
        band_left = np.full(len(row), -np.inf)
        band_right = np.full(len(row), np.inf)
        for slope, low, high in (
            (ux, -ey * uy, length - ey * uy),  # along: ex * ux + ey * uy in [0, length]
            (-uy, -radius - ey * ux, radius - ey * ux),  # across: ey * ux - ex * uy
        ):
            a, b = low / slope, high / slope
            flat = slope == 0
            holds = (low <= 0) & (0 <= high)
            band_left = np.maximum(
                band_left, np.where(flat, np.where(holds, -np.inf, np.inf), np.minimum(a, b))
            )
            band_right = np.minimum(
                band_right, np.where(flat, np.where(holds, np.inf, -np.inf), np.maximum(a, b))
            )
    band = (length > 0) & (band_left <= band_right)
    lefts.append(np.where(band, x0 + band_left, np.inf))
    rights.append(np.where(band, x0 + band_right, -np.inf))
    left = np.min(lefts, axis=0)
    right = np.max(rights, axis=0)
    # Columns whose centre (column + 0.5) lies in [left, right], within the box.
    with np.errstate(invalid="ignore"):
        col_first = np.clip(np.ceil(left - 0.5), box.left, box.right)
        col_last = np.clip(np.floor(right - 0.5), box.left - 1, box.right - 1)
    keep = col_first <= col_last
    base = (row[keep] - box.top) * (box.right - box.left + 1) - box.left
    opened = np.bincount(base + col_first[keep].astype(np.int64), minlength=size)
    closed = np.bincount(base + col_last[keep].astype(np.int64) + 1, minlength=size)
    return opened - closed


def connected_region(same: np.ndarray, y: int, x: int) -> np.ndarray:
    """The 4-connected component of True pixels of `same` that holds (y, x).

    Works on runs (a row's stretches of True pixels): the runs of one row that touch a run of
    the next are found by binary search, and the runs joined by union-find in whole-array
    steps, so the cost stays linear in pixels even for a map of 1-pixel stripes."""
    height, width = same.shape
    edges = np.diff(np.pad(same, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    # Keys in row-major order: a row's keys all lie below the next row's (ends <= width).
    stride = width + 2
    start_keys = rows * stride + starts
    end_keys = rows * stride + ends
    # Runs b of the next row touch run a when start_b < end_a and end_b > start_a.
    below = (rows + 1) * stride
    lo = np.searchsorted(end_keys, below + starts, "right")
    hi = np.searchsorted(start_keys, below + ends, "left")
    counts = np.maximum(hi - lo, 0)
    upper = np.repeat(np.arange(len(rows)), counts)
    lower = (
        np.repeat(lo, counts)
        + np.arange(len(upper))
        - np.repeat(np.cumsum(counts) - counts, counts)
    )
    root = _union_find(len(rows), upper, lower)
    seed = int(np.searchsorted(start_keys, y * stride + x, "right")) - 1
    member = root == root[seed]
    coverage = np.zeros(height * (width + 1), np.int64)
    base = rows[member] * (width + 1)
    coverage += np.bincount(base + starts[member], minlength=coverage.size)
    coverage -= np.bincount(base + ends[member], minlength=coverage.size)
    return np.cumsum(coverage.reshape(height, width + 1), axis=1)[:, :-1] > 0


def _union_find(count: int, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Each node's component root (its smallest node) for the edges first[i] -- second[i]:
    every round hooks each root onto the smallest root it meets, then halves every path
    until each node points at its root."""
    parent = np.arange(count)
    while first.size:
        a, b = parent[first], parent[second]
        apart = a != b
        first, second, a, b = first[apart], second[apart], a[apart], b[apart]
        np.minimum.at(parent, np.maximum(a, b), np.minimum(a, b))
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return parent


def surrounding_fill(
    labels: np.ndarray, instances: np.ndarray, mask: np.ndarray
) -> tuple[int, int]:
    """The (label, instance id) most common on the pixels that touch `mask` from outside:
    what a removed object's pixels become. (0, 0) when nothing touches it."""
    ring = np.zeros_like(mask)
    ring[1:] |= mask[:-1]
    ring[:-1] |= mask[1:]
    ring[:, 1:] |= mask[:, :-1]
    ring[:, :-1] |= mask[:, 1:]
    ring &= ~mask
    if not ring.any():
        return 0, 0
    pairs, counts = np.unique(
        labels[ring].astype(np.int64) << 32 | instances[ring].astype(np.int64),
        return_counts=True,
    )
    best = int(pairs[np.argmax(counts)])
    return best >> 32, best & 0xFFFFFFFF


def shifted(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """`mask` moved by (dx, dy) pixels; what leaves the image is dropped."""
    height, width = mask.shape
    out = np.zeros_like(mask)
    if abs(dx) >= width or abs(dy) >= height:
        return out
    src_rows = slice(max(0, -dy), height - max(0, dy))
    src_cols = slice(max(0, -dx), width - max(0, dx))
    dst_rows = slice(max(0, dy), height - max(0, -dy))
    dst_cols = slice(max(0, dx), width - max(0, -dx))
    out[dst_rows, dst_cols] = mask[src_rows, src_cols]
    return out


def check_point(x: int, y: int, height: int, width: int) -> None:
    if not (0 <= x < width and 0 <= y < height):
        raise ClientError(422, f"point ({x}, {y}) lies outside the {height} x {width} map")
