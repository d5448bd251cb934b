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


def stroke_mask(
    points: list[tuple[float, float]], radius: float, height: int, width: int
) -> tuple[Box, np.ndarray] | None:
    """Pixels whose centre lies within `radius` of the polyline through `points` (x, y in
    pixels): the box they fill and the mask inside it, or None when all fall outside."""
    xy = np.asarray(points, np.float64).reshape(-1, 2)
    box = Box(
        max(0, int(np.floor(xy[:, 1].min() - radius))),
        min(height, int(np.ceil(xy[:, 1].max() + radius)) + 1),
        max(0, int(np.floor(xy[:, 0].min() - radius))),
        min(width, int(np.ceil(xy[:, 0].max() + radius)) + 1),
    )
    if box.top >= box.bottom or box.left >= box.right:
        return None
    mask = np.zeros((box.bottom - box.top, box.right - box.left), bool)
    starts = xy if len(xy) == 1 else xy[:-1]
    ends = xy if len(xy) == 1 else xy[1:]
    for (x0, y0), (x1, y1) in zip(starts, ends, strict=True):
        # Each segment only looks at its own box: a long stroke costs its length, not its
        # box's area times its number of points.
        top = max(box.top, int(np.floor(min(y0, y1) - radius)))
        bottom = min(box.bottom, int(np.ceil(max(y0, y1) + radius)) + 1)
        left = max(box.left, int(np.floor(min(x0, x1) - radius)))
        right = min(box.right, int(np.ceil(max(x0, x1) + radius)) + 1)
        if top >= bottom or left >= right:
            continue
        ys = np.arange(top, bottom, dtype=np.float64)[:, None] + 0.5
        xs = np.arange(left, right, dtype=np.float64)[None, :] + 0.5
        dx, dy = x1 - x0, y1 - y0
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0 else np.clip(((xs - x0) * dx + (ys - y0) * dy) / length2, 0, 1)
        inside = (xs - (x0 + t * dx)) ** 2 + (ys - (y0 + t * dy)) ** 2 <= radius * radius
        mask[top - box.top : bottom - box.top, left - box.left : right - box.left] |= inside
    found = mask_box(mask)
    if found is None:
        return None
    inner = Box(
        box.top + found.top, box.top + found.bottom, box.left + found.left, box.left + found.right
    )
    return inner, mask[found.slices]


def connected_region(same: np.ndarray, y: int, x: int) -> np.ndarray:
    """The 4-connected component of True pixels of `same` that holds (y, x), found run by run
    (a few thousand runs for a street scene, where a pixel-wise search would be slow)."""
    height, width = same.shape
    edges = np.diff(np.pad(same, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    start_rows, start_cols = np.nonzero(edges == 1)
    _, end_cols = np.nonzero(edges == -1)
    row_first = np.searchsorted(start_rows, np.arange(height + 1))
    seed = next(
        run for run in range(row_first[y], row_first[y + 1]) if start_cols[run] <= x < end_cols[run]
    )
    region = np.zeros_like(same)
    seen, stack = {seed}, [seed]
    while stack:
        run = stack.pop()
        row, left, right = start_rows[run], start_cols[run], end_cols[run]
        region[row, left:right] = True
        for other_row in (row - 1, row + 1):
            if not 0 <= other_row < height:
                continue
            for other in range(row_first[other_row], row_first[other_row + 1]):
                if start_cols[other] < right and end_cols[other] > left and other not in seen:
                    seen.add(other)
                    stack.append(other)
    return region


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
