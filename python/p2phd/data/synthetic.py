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

from typing import NamedTuple

import numpy as np

__all__ = [
    "CITYSCAPES_PALETTE",
    "NUM_LABELS",
    "THING_LABELS",
    "SyntheticScene",
    "colorize",
    "synthetic_scene",
]

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


class SyntheticScene(NamedTuple):
    """One synthetic sample: ``labels`` uint8 H×W, ``instances`` int32 H×W, ``image`` uint8
    H×W×3 (RGB)."""

    labels: np.ndarray
    instances: np.ndarray
    image: np.ndarray


def colorize(labels: np.ndarray) -> np.ndarray:
    """Cityscapes colours of a labelId map: ``(..., H, W)`` ints -> ``(..., H, W, 3)`` uint8.

    Instance maps work too (ids >= 1000 are mapped to their class first)."""
    a = np.asarray(labels)
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"labels must be integers, got {a.dtype}")
    a = a.astype(np.int64)
    a = np.where(a >= 1000, a // 1000, a)
    if a.size and (a.min() < 0 or a.max() >= NUM_LABELS):
        raise ValueError(f"label ids must lie in [0, {NUM_LABELS})")
    return CITYSCAPES_PALETTE[a]


# --------------------------------------------------------------------------------------
# Rendering machinery
# --------------------------------------------------------------------------------------

_F32 = np.float32


def _smooth_noise(
    rng: np.random.Generator, h: int, w: int, cell: float, cell_x: float | None = None
) -> np.ndarray:
    """Zero-mean value noise with feature size ``cell`` pixels (``cell_x`` across, when
    given), bilinear with smoothstep easing."""
    cy = max(float(cell), 1.0)
    cx = max(float(cell if cell_x is None else cell_x), 1.0)
    gh, gw = int(h / cy) + 2, int(w / cx) + 2
    g = rng.standard_normal((gh, gw)).astype(_F32)
    y = (np.arange(h, dtype=_F32) + 0.5) / cy
    x = (np.arange(w, dtype=_F32) + 0.5) / cx
    y0, x0 = y.astype(np.int64), x.astype(np.int64)
    fy, fx = y - y0, x - x0
    fy = (fy * fy * (3 - 2 * fy))[:, None]
    fx = (fx * fx * (3 - 2 * fx))[None, :]
    a = g[y0][:, x0]
    b = g[y0][:, x0 + 1]
    c = g[y0 + 1][:, x0]
    d = g[y0 + 1][:, x0 + 1]
    top = a + (b - a) * fx
    bot = c + (d - c) * fx
    return top + (bot - top) * fy


class _Canvas:
    """Pinhole camera over a ground plane plus label / instance / image / depth buffers.

    World: X to the right, Y up (ground Y = 0), z forward (depth). Camera at (0, hc, 0).
    Screen: x = xv + f X / z, y = yh + f (hc - Y) / z, pixel centres at integer + 0.5.
    """

    def __init__(
        self, rng: np.random.Generator, tex_rng: np.random.Generator, height: int, width: int
    ):
        self.h, self.w = height, width
        self.f = width * rng.uniform(0.62, 0.85)
        self.yh = height * rng.uniform(0.40, 0.47)
        self.xv = width * rng.uniform(0.44, 0.56)
        self.hc = rng.uniform(1.35, 1.65)
        self.ys = np.arange(height, dtype=_F32) + 0.5
        self.xs = np.arange(width, dtype=_F32) + 0.5
        self.depth = np.full((height, width), np.inf, dtype=_F32)
        self.labels = np.zeros((height, width), dtype=np.uint8)
        self.inst = np.zeros((height, width), dtype=np.int32)
        self.img = np.zeros((height, width, 3), dtype=_F32)
        # Texture fields shared by everything (sliced per primitive).
        self.fine = tex_rng.standard_normal((height, width), dtype=_F32)
        self.blotch = _smooth_noise(tex_rng, height, width, max(2.0, width / 48))
        self.haze = np.array((200, 205, 210), _F32)
        self._next_k: dict[int, int] = {}

    # -- ids ---------------------------------------------------------------------------
    def new_instance(self, label: int) -> int:
        k = self._next_k.get(label, 0)
        self._next_k[label] = k + 1
        return label * 1000 + k

    # -- primitives: each returns (rows, cols, coords...) or None if off screen ---------
    def _rows(self, a: float, b: float) -> tuple[int, int]:
        return max(0, int(np.floor(a - 0.5))), min(self.h, int(np.ceil(b + 0.5)))

    def _cols(self, a: float, b: float) -> tuple[int, int]:
        return max(0, int(np.floor(a - 0.5))), min(self.w, int(np.ceil(b + 0.5)))

    def frontal(self, z, x0, x1, y0, y1):
        """Rectangle X in [x0, x1], Y in [y0, y1] on the plane at depth z (facing us).
        Returns (rs, cs, X[1,w], Y[h,1]) with world coordinates of pixel centres."""
        if z <= 0.3:
            return None
        f = self.f
        c0, c1 = self._cols(self.xv + f * x0 / z, self.xv + f * x1 / z)
        r0, r1 = self._rows(self.yh + f * (self.hc - y1) / z, self.yh + f * (self.hc - y0) / z)
        if c0 >= c1 or r0 >= r1:
            return None
        X = ((self.xs[c0:c1] - self.xv) * (z / f))[None, :]
        Y = (self.hc - (self.ys[r0:r1] - self.yh) * (z / f))[:, None]
        return slice(r0, r1), slice(c0, c1), X, Y

    def side(self, xp, z0, z1, y0, y1):
        """Rectangle z in [z0, z1], Y in [y0, y1] on the vertical plane X = xp (parallel to
        the street). Returns (rs, cs, Z[1,w], Y[h,w], inside[h,w])."""
        if abs(xp) < 0.05:
            return None
        z0 = max(z0, 0.3)
        if z1 <= z0:
            return None
        f, xv, yh, hc = self.f, self.xv, self.yh, self.hc
        xa, xb = sorted((xv + f * xp / z0, xv + f * xp / z1))
        c0, c1 = self._cols(xa, xb)
        ya = min(yh + f * (hc - y1) / z0, yh + f * (hc - y1) / z1)
        yb = max(yh + f * (hc - y0) / z0, yh + f * (hc - y0) / z1)
        r0, r1 = self._rows(ya, yb)
        if c0 >= c1 or r0 >= r1:
            return None
        dx = self.xs[c0:c1] - xv
        # Columns on the other side of the vanishing point never see the plane: park them
        # far away (finite, so the texture maths stays quiet) and mask them out.
        ok = dx * xp > 0
        Z = np.where(ok, f * xp / np.where(ok, dx, 1), 1e6).astype(_F32)
        Z = Z[None, :]
        Y = hc - (self.ys[r0:r1, None] - yh) * (Z / f)
        inside = (Z >= z0) & (Z <= z1) & (Y >= y0) & (Y <= y1)
        return slice(r0, r1), slice(c0, c1), Z, Y, inside

    def top(self, yp, x0, x1, z0, z1):
        """Horizontal rectangle X in [x0, x1], z in [z0, z1] at height Y = yp (seen from above
        when the camera is higher). Returns (rs, cs, X[h,w], Z[h,1], inside)."""
        if yp >= self.hc - 1e-3:
            return None
        z0 = max(z0, 0.3)
        if z1 <= z0:
            return None
        f, xv, yh, hc = self.f, self.xv, self.yh, self.hc
        r0, r1 = self._rows(yh + f * (hc - yp) / z1, yh + f * (hc - yp) / z0)
        xa = min(xv + f * x0 / z0, xv + f * x0 / z1)
        xb = max(xv + f * x1 / z0, xv + f * x1 / z1)
        c0, c1 = self._cols(xa, xb)
        if c0 >= c1 or r0 >= r1:
            return None
        dy = np.maximum(self.ys[r0:r1] - yh, 1e-3)
        Z = (f * (hc - yp) / dy)[:, None]
        X = (self.xs[None, c0:c1] - xv) * (Z / f)
        inside = (Z >= z0) & (Z <= z1) & (X >= x0) & (X <= x1)
        return slice(r0, r1), slice(c0, c1), X, Z, inside

    # -- painting ----------------------------------------------------------------------
    def paint(self, rs, cs, mask, depth, label, inst, color) -> None:
        """Write label, instance id, colour and depth where ``mask`` and nearer than what is
        there. ``depth`` and ``color`` broadcast against the box (color: [..., 3])."""
        zb = self.depth[rs, cs]
        m = mask & (depth < zb)
        if not m.any():
            return
        zb[m] = np.broadcast_to(depth, m.shape)[m]
        self.labels[rs, cs][m] = label if np.ndim(label) == 0 else label[m]
        self.inst[rs, cs][m] = inst if np.ndim(inst) == 0 else inst[m]
        col = np.broadcast_to(color, m.shape + (3,))
        self.img[rs, cs][m] = col[m]

    def tex(self, rs, cs, base, shade=1.0, fine=0.04, blotch=0.05):
        """Base colour * shade * (1 + fine noise + blotchy noise), shape [h, w, 3]."""
        n = 1.0 + fine * self.fine[rs, cs] + blotch * self.blotch[rs, cs]
        return np.asarray(base, _F32) * (np.asarray(shade, _F32) * n)[..., None]


def _child(rng: np.random.Generator) -> np.random.Generator:
    """A generator of its own for one object: the parent advances by one draw whatever the
    object draws, or skips because it is off screen, so the layout is the same at any size."""
    return np.random.default_rng(int(rng.integers(2**63)))


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _jitter(rng: np.random.Generator, color, amount: float = 12.0) -> np.ndarray:
    """Vary a colour: mostly in brightness, a little in hue."""
    c = np.asarray(color, _F32) + _F32(rng.normal(0.0, amount))
    c = c + rng.normal(0.0, amount / 3, 3).astype(_F32)
    return np.clip(c, 0, 255)


_FACADES = [
    (205, 192, 168),
    (222, 216, 204),
    (160, 158, 152),
    (150, 86, 64),
    (214, 194, 140),
    (206, 172, 158),
    (112, 112, 118),
    (146, 156, 166),
    (190, 170, 130),
    (232, 228, 220),
]
_CAR_COLORS = [
    (225, 225, 228),
    (28, 28, 32),
    (168, 170, 174),
    (108, 110, 114),
    (30, 42, 92),
    (150, 24, 24),
    (42, 72, 140),
    (42, 82, 60),
    (190, 172, 134),
    (60, 60, 64),
    (200, 200, 205),
]
_CLOTHES = [
    (30, 30, 35),
    (60, 60, 70),
    (40, 55, 100),
    (120, 30, 35),
    (200, 200, 195),
    (90, 70, 50),
    (60, 90, 60),
    (150, 120, 80),
    (170, 60, 90),
    (45, 80, 130),
    (220, 180, 60),
]
_TROUSERS = [(30, 30, 40), (45, 60, 95), (60, 60, 60), (90, 80, 70), (20, 20, 25), (70, 90, 120)]
_SKIN = [(235, 200, 175), (210, 165, 130), (160, 110, 80), (110, 75, 55), (240, 215, 195)]
_HAIR = [(25, 20, 15), (70, 45, 25), (140, 100, 60), (200, 170, 110), (120, 120, 120)]


# --------------------------------------------------------------------------------------
# Scene parts
# --------------------------------------------------------------------------------------


class _Layout:
    """Where things are, in metres."""

    def __init__(self, rng: np.random.Generator):
        self.lane = rng.uniform(2.9, 3.5)
        self.lanes_right = 1  # camera lane is the rightmost driving lane
        self.lanes_left = int(rng.choice([1, 1, 2, 2, 3]))
        park_r = rng.uniform(2.0, 2.4) if rng.random() < 0.7 else 0.3
        park_l = rng.uniform(2.0, 2.4) if rng.random() < 0.5 else 0.3
        self.road_r = self.lane / 2 + park_r
        self.road_l = -(self.lane / 2 + (self.lanes_left) * self.lane + park_l)
        self.park_r, self.park_l = park_r > 1, park_l > 1
        self.walk_r = rng.uniform(2.5, 5.0)
        self.walk_l = rng.uniform(2.5, 5.0)
        self.face_r = self.road_r + self.walk_r
        self.face_l = self.road_l - self.walk_l
        self.z_end = rng.uniform(70.0, 150.0)
        self.crosswalk = rng.uniform(12.0, 35.0) if rng.random() < 0.45 else None
        # Lane lines: the centre line between directions and dashed lines between lanes.
        self.centre = -self.lane / 2
        self.dashes = [-self.lane / 2 - i * self.lane for i in range(1, self.lanes_left)]
        # (far end z, height) of the buildings / hedges along each side, for cast shadows.
        self.skyline_l: list[tuple[float, float]] = []
        self.skyline_r: list[tuple[float, float]] = []


def _sky(cv: _Canvas, rng: np.random.Generator, tex_rng, overcast: bool) -> None:
    if overcast:
        top = _jitter(rng, (170, 180, 192), 8)
        hor = _jitter(rng, (215, 218, 222), 6)
    else:
        top = _jitter(rng, (70, 120, 190), 10)
        hor = _jitter(rng, (190, 210, 228), 8)
    t = np.clip(cv.ys / max(cv.yh, 1.0), 0, 1)[:, None, None] ** 1.3
    sky = top * (1 - t) + hor * t
    sky = np.broadcast_to(sky, (cv.h, cv.w, 3)).copy()
    # Clouds: soft-thresholded noise, stretched sideways, thinning towards the horizon.
    n = _smooth_noise(tex_rng, cv.h, cv.w, cv.w / 22, cv.w / 7)
    n += 0.5 * _smooth_noise(tex_rng, cv.h, cv.w, cv.w / 50, cv.w / 18)
    n += 0.25 * _smooth_noise(tex_rng, cv.h, cv.w, cv.w / 110, cv.w / 40)
    amount = rng.uniform(0.1, 0.9)
    cloud = np.clip((n - (1.0 - amount)) * 1.2, 0, 1) * (1 - 0.6 * t[..., 0])
    white = np.array((238, 240, 243), _F32) if not overcast else np.array((200, 203, 208), _F32)
    sky += (white - sky) * cloud[..., None]
    cv.img[:] = sky
    cv.haze = hor
    cv.labels[:] = SKY
    cv.inst[:] = SKY


def _ground(cv: _Canvas, rng: np.random.Generator, lay: _Layout, grass, sun: float) -> None:
    """Road, sidewalks (with curbs), grass verges and terrain beyond, in one pass, with the
    shadows that the buildings on the sun's side cast across the street."""
    r0 = max(0, int(np.floor(cv.yh + 0.5)))
    if r0 >= cv.h:
        return
    rs, cs = slice(r0, cv.h), slice(0, cv.w)
    dy = np.maximum(cv.ys[rs] - cv.yh, 1e-3)
    Z = (cv.f * cv.hc / dy)[:, None]
    X = (cv.xs[None, :] - cv.xv) * (Z / cv.f)
    px = Z / cv.f  # metres per pixel at that row
    label = np.full(X.shape, TERRAIN, np.uint8)
    is_road = (X >= lay.road_l) & (X <= lay.road_r)
    walk = ((X > lay.road_r) & (X <= lay.face_r)) | ((X < lay.road_l) & (X >= lay.face_l))
    label[is_road] = ROAD
    label[walk] = SIDEWALK
    # Grass verges in front of hedges: ``grass`` is a list of (side, z0, z1, width).
    for sgn, z0, z1, gw in grass:
        face = lay.face_r if sgn > 0 else lay.face_l
        g = (X * sgn > abs(face) - gw) & (Z >= z0) & (Z < z1) & walk
        label[g] = TERRAIN

    asphalt = _jitter(rng, (88, 88, 92), 8)
    paving = _jitter(rng, _pick(rng, [(150, 148, 145), (165, 150, 140), (135, 135, 138)]), 8)
    grass_c = _jitter(rng, (95, 120, 55), 10)
    img = np.empty(X.shape + (3,), _F32)
    fine, blotch = cv.fine[rs, cs], cv.blotch[rs, cs]
    # Road: asphalt with blotches, lighter far away, darker tyre tracks.
    shade = 1.0 + 0.05 * fine + 0.035 * blotch
    tracks = np.abs(((X - 0.0) % lay.lane) - lay.lane / 2)  # distance to lane centre
    shade = shade * (1.0 - 0.06 * np.exp(-((tracks - 0.8) ** 2) / 0.08))
    img[:] = asphalt * shade[..., None]
    # Lane markings, antialiased by their coverage of a pixel.
    paint = np.zeros(X.shape, _F32)

    def line(xm, width, dashed):
        cov = np.clip(0.5 + (width / 2 - np.abs(X - xm)) / px, 0, 1)
        if dashed:
            cov = cov * (((Z + 3.0) % 9.0) < 3.0)
        np.maximum(paint, cov, out=paint)

    line(lay.centre, 0.15, dashed=rng.random() < 0.5)
    for xm in lay.dashes:
        line(xm, 0.12, dashed=True)
    line(lay.road_r - 0.35, 0.12, dashed=not lay.park_r)
    line(lay.road_l + 0.35, 0.12, dashed=not lay.park_l)
    if lay.crosswalk is not None:
        zc = lay.crosswalk
        stripes = ((X % 1.0) < 0.5) & (Z >= zc) & (Z <= zc + 4.0)
        np.maximum(paint, stripes.astype(_F32), out=paint)
        # Stop line before the crosswalk, across the lanes of our direction.
        stop = (Z >= zc - 1.4) & (Z <= zc - 1.0) & (X > lay.centre)
        np.maximum(paint, stop.astype(_F32), out=paint)
    paint *= is_road
    white = np.array((215, 215, 210), _F32) * (1 + 0.04 * fine)[..., None]
    img += (white - img) * (0.85 * paint)[..., None]
    # Sidewalk: paving slabs with joints, curb stones along the road.
    joints = (np.minimum((X % 0.6), (Z % 0.6)) < 0.04) & (px < 0.1)
    wshade = 1.0 + 0.05 * fine + 0.03 * blotch - 0.12 * joints
    curb = (np.abs(X - lay.road_r) < 0.25) | (np.abs(X - lay.road_l) < 0.25)
    wshade = np.where(curb, 1.12 + 0.03 * fine, wshade)
    m = label == SIDEWALK
    img[m] = (paving * wshade[..., None])[m]
    m = label == TERRAIN
    gshade = 1.0 + 0.12 * fine + 0.15 * blotch
    img[m] = (grass_c * gshade[..., None])[m]
    if abs(sun - 1.0) > 0.04:
        # Sun from the left when the right-hand facades are lit (sun > 1), and vice versa.
        skyline = lay.skyline_l if sun > 1 else lay.skyline_r
        if skyline:
            ends = np.array([e for e, _ in skyline], _F32)
            hs = np.array([h for _, h in skyline] + [0.0], _F32)
            hrow = hs[np.searchsorted(ends, Z[:, 0])][:, None]
            reach = hrow * rng.uniform(0.2, 0.9)  # cot(sun elevation)
            if sun > 1:
                into = lay.face_l + reach - X  # metres inside the shadow
            else:
                into = X - (lay.face_r - reach)
            k = np.clip(0.5 + into / np.maximum(px, 0.15), 0, 1)
            img *= (1.0 - min(0.38, 1.6 * abs(sun - 1.0)) * k)[..., None]
    cv.paint(rs, cs, np.ones(X.shape, bool), Z, label, label, img)


def _shadow(cv: _Canvas, x0, x1, z0, z1, strength=0.45) -> None:
    """Darken the ground (image only) under a vehicle footprint, soft at the edges."""
    p = cv.top(0.0, x0 - 0.3, x1 + 0.3, z0 - 0.3, z1 + 0.2)
    if p is None:
        return
    rs, cs, X, Z, inside = p
    ground = np.isin(cv.labels[rs, cs], (ROAD, SIDEWALK, TERRAIN))
    dx = np.minimum(X - (x0 - 0.3), (x1 + 0.3) - X) / 0.4
    dz = np.minimum(Z - (z0 - 0.3), (z1 + 0.2) - Z) / 0.6
    k = np.clip(np.minimum(dx, dz), 0, 1) * inside * ground
    cv.img[rs, cs] *= (1 - strength * k)[..., None]


def _facade_side(cv, rng, lay, sgn, sun) -> list:
    """Buildings, walls, fences and hedges along one side of the street. Returns the grass
    verges [(side, z0, z1, width)] for the ground pass."""
    face = lay.face_r if sgn > 0 else lay.face_l
    light = sun if sgn > 0 else 2.0 - sun
    grass = []
    z = 0.3
    prev_h = 0.0
    skyline = lay.skyline_r if sgn > 0 else lay.skyline_l
    while z < lay.z_end:
        seg = rng.uniform(8.0, 30.0)
        z1 = min(z + seg, lay.z_end)
        kind = rng.choice(4, p=[0.66, 0.16, 0.09, 0.09])
        if kind == 0:
            hgt = _building_face(cv, _child(rng), face, sgn, z, z1, light, prev_h)
            prev_h = hgt
        else:
            prev_h = 0.0
            back = face + sgn * rng.uniform(0.0, 3.0)
            hgt = rng.uniform(2.5, 9.0)
            _hedge(cv, _child(rng), back, z, z1, hgt, light)
            if kind == 1:
                grass.append((sgn, z, z1, rng.uniform(0.8, 2.0)))
            elif kind == 2:
                _wall(cv, _child(rng), face, z, z1, light)
            else:
                _fence(cv, _child(rng), face, z, z1, light)
        skyline.append((z1, hgt))
        z = z1
    return grass


def _building_face(cv, rng, face, sgn, z0, z1, light, prev_h) -> float:
    hgt = rng.uniform(7.0, 24.0)
    base = _jitter(rng, _pick(rng, _FACADES), 10)
    floor_h = rng.uniform(2.9, 3.5)
    spacing = rng.uniform(2.0, 3.4)
    win_w = rng.uniform(0.35, 0.6)
    win_h = rng.uniform(0.4, 0.6)
    glass = _jitter(rng, (60, 70, 82), 10)
    frame = rng.random() < 0.4
    shop = rng.random() < 0.5
    off = rng.uniform(0, spacing)
    # Ground floor in another material (stone, render, tiles) and bands between floors.
    plinth_h = floor_h if rng.random() < 0.5 else rng.uniform(0.4, 1.0)
    plinth = _jitter(rng, _pick(rng, [(120, 115, 108), (90, 88, 86), (170, 160, 145)]), 8)
    bands = rng.random() < 0.5
    p = cv.side(face, z0, z1, 0.0, hgt)
    if p is not None:
        rs, cs, Z, Y, inside = p
        u = ((Z - off) / spacing) % 1.0
        v = (Y / floor_h) % 1.0
        fl = Y // floor_h
        win = (np.abs(u - 0.5) < win_w / 2) & (np.abs(v - 0.5) < win_h / 2)
        win &= (fl >= 1) & (Y < hgt - 0.8)
        if shop:
            win |= (Y > 0.4) & (Y < floor_h * 0.8) & (np.abs(u - 0.5) < 0.42)
        rim = (np.abs(u - 0.5) < win_w / 2 + 0.06) & (np.abs(v - 0.5) < win_h / 2 + 0.06)
        rim &= ~win & (fl >= 1) & (Y < hgt - 0.8)
        shade = light * (0.8 + 0.25 * np.clip(Y / hgt, 0, 1))  # darker near the ground
        shade = shade * np.where(Y > hgt - 0.5, 0.8, 1.0)  # cornice
        corner = np.clip(np.minimum(Z - z0, z1 - Z), 0, 50)  # metres to the building's edge
        shade = shade * (1 - 0.25 * np.exp(-corner / 0.6))
        if bands:
            shade = shade * np.where((v < 0.07) & (fl >= 1), 1.12, 1.0)
        col = cv.tex(rs, cs, base, shade, fine=0.05, blotch=0.035)
        low = Y < plinth_h
        col = np.where(low[..., None], plinth * (shade * 0.95)[..., None], col)
        if frame:
            col = np.where(rim[..., None], np.array((235, 235, 230), _F32) * light, col)
        gl = glass * (0.8 + 0.5 * v)[..., None] * (1 + 0.05 * cv.fine[rs, cs])[..., None]
        col = np.where(win[..., None], gl, col)
        cv.paint(rs, cs, inside, Z, BUILDING, BUILDING, col)
    # End wall facing us, visible above a lower building (or a gap) in front of it.
    if hgt > prev_h + 0.5 and z0 > 1.0:
        xa, xb = sorted((face, face + sgn * 14.0))
        q = cv.frontal(z0, xa, xb, 0.0, hgt)
        if q is not None:
            rs, cs, X, Y = q
            inside = (Y <= hgt) & (Y >= 0) & (X >= xa) & (X <= xb)
            shade = (2.0 - light) * 0.85 * (0.85 + 0.2 * np.clip(Y / hgt, 0, 1))
            col = cv.tex(rs, cs, base, np.broadcast_to(shade, inside.shape), 0.05, 0.06)
            cv.paint(rs, cs, inside, z0, BUILDING, BUILDING, col)
    return hgt


def _hedge(cv, rng, xp, z0, z1, hgt, light) -> None:
    """Trees / bushes as a vegetation mass on the plane X = xp with a lumpy top."""
    p = cv.side(xp, z0, z1, 0.0, hgt + 3.0)
    if p is None:
        return
    rs, cs, Z, Y, inside = p
    ph = rng.uniform(0, 6.3, 3)
    top = hgt + 1.2 * np.sin(Z / 2.1 + ph[0]) + 0.8 * np.sin(Z / 0.9 + ph[1])
    top = top + 1.5 * np.abs(np.sin(Z / 4.0 + ph[2]))
    inside &= Y < top
    green = _jitter(rng, (70, 95, 45), 10)
    shade = light * (0.7 + 0.4 * np.clip(Y / np.maximum(top, 1), 0, 1))
    col = cv.tex(rs, cs, green, shade, fine=0.22, blotch=0.2)
    cv.paint(rs, cs, inside, Z, VEGETATION, VEGETATION, col)


def _wall(cv, rng, xp, z0, z1, light) -> None:
    hgt = rng.uniform(0.8, 2.2)
    p = cv.side(xp, z0, z1, 0.0, hgt)
    if p is None:
        return
    rs, cs, Z, Y, inside = p
    base = _jitter(rng, _pick(rng, [(170, 165, 155), (150, 110, 90), (130, 130, 128)]), 8)
    shade = light * np.where(Y > hgt - 0.15, 1.1, 0.9)
    col = cv.tex(rs, cs, base, shade, fine=0.06, blotch=0.08)
    cv.paint(rs, cs, inside, Z, WALL, WALL, col)


def _fence(cv, rng, xp, z0, z1, light) -> None:
    hgt = rng.uniform(1.0, 2.0)
    p = cv.side(xp, z0, z1, 0.0, hgt)
    if p is None:
        return
    rs, cs, Z, Y, inside = p
    pitch = rng.uniform(0.12, 0.3)
    # Pickets and rails; between them the fence is see-through when pixels are fine enough.
    px = Z / cv.f
    picket = ((Z % pitch) < pitch * 0.45) | (px * abs(cv.f / xp) * pitch > 0.3)
    rail = (np.abs(Y - 0.25 * hgt) < 0.05) | (np.abs(Y - 0.85 * hgt) < 0.05)
    inside &= picket | rail | (Y > hgt - 0.06)
    base = _jitter(rng, _pick(rng, [(90, 95, 90), (140, 120, 95), (60, 70, 60)]), 8)
    col = cv.tex(rs, cs, base, light, fine=0.06, blotch=0.05)
    cv.paint(rs, cs, inside, Z, FENCE, FENCE, col)


def _backdrop(cv, rng, lay) -> None:
    """Far end of the street: a row of buildings and trees across, at depth z_end."""
    z = lay.z_end
    half = z * cv.w / cv.f + 50.0
    q = cv.frontal(z, -half, half, 0.0, 40.0)
    if q is None:
        return
    rs, cs, X, Y = q
    # Skyline: random block heights.
    edges = np.cumsum(rng.uniform(8.0, 25.0, 64)) - half
    heights = rng.uniform(5.0, 22.0, 65)
    is_tree = rng.random(65) < 0.25
    blk = np.searchsorted(edges, X[0])
    tree = is_tree[blk][None, :]
    lumps = 1.5 * np.abs(np.sin(X / 1.7)) + 1.0 * np.sin(X / 0.7)
    top = heights[blk][None, :] + np.where(tree, lumps - 4.0, 0.0)
    inside = Y <= top
    tones = np.array([_jitter(rng, _pick(rng, _FACADES), 10) for _ in range(65)], _F32)
    col = tones[blk][None, :, :] * np.ones((Y.shape[0], 1, 1), _F32) * 0.9
    win = ((X % 2.6) < 1.0) & ((Y % 3.2) < 1.4) & (Y > 3.0) & (Y < top - 1)
    col = np.where(win[..., None], col * 0.55, col)
    col = col * (1 + 0.04 * cv.fine[rs, cs])[..., None]
    green = np.array((75, 95, 55), _F32) * (1 + 0.2 * cv.fine[rs, cs])[..., None]
    col = np.where(tree[..., None], green, col)
    lab = np.where(tree, VEGETATION, BUILDING).astype(np.uint8)
    lab = np.broadcast_to(lab, inside.shape)
    cv.paint(rs, cs, inside, z, lab, lab, col)


def _tree(cv, rng, xc, z, light) -> None:
    trunk_h = rng.uniform(2.0, 3.5)
    r = rng.uniform(1.6, 3.2)
    cy = trunk_h + r * rng.uniform(0.7, 1.0)
    px = z / cv.f
    tw = max(rng.uniform(0.25, 0.4), px * 1.01)
    q = cv.frontal(z, xc - r * 1.3, xc + r * 1.3, 0.0, cy + r * 1.3)
    if q is None:
        return
    rs, cs, X, Y = q
    dx, dy = X - xc, Y - cy
    ang = np.arctan2(dy, dx)
    ph = rng.uniform(0, 6.3, 3)
    rad = r * (1 + 0.12 * np.sin(5 * ang + ph[0]) + 0.08 * np.sin(9 * ang + ph[1]))
    rad = rad * np.where(dy > 0, 1.1, 0.9)
    crown = dx * dx + dy * dy < rad * rad
    trunk = (np.abs(dx) < tw / 2) & (Y < cy)
    green = _jitter(rng, (72, 100, 42), 14)
    shade = light * (0.65 + 0.5 * np.clip((dy + r) / (2 * r), 0, 1))
    shade = shade * (1 - 0.25 * np.clip(dx * (1 if light < 1 else -1) / r, 0, 1))
    col = cv.tex(rs, cs, green, shade, fine=0.25, blotch=0.15)
    bark = np.array((75, 62, 50), _F32) * light
    col = np.where((trunk & ~crown)[..., None], bark, col)
    cv.paint(rs, cs, crown | trunk, z, VEGETATION, VEGETATION, col)


def _pole(cv, rng, xp, z, hgt, width=0.14, color=(95, 98, 100)) -> None:
    w = max(width, z / cv.f * 1.01)
    q = cv.frontal(z, xp - w / 2, xp + w / 2, 0.0, hgt)
    if q is None:
        return
    rs, cs, X, Y = q
    inside = (np.abs(X - xp) <= w / 2) & (Y <= hgt)
    shade = 0.8 + 0.3 * (X - xp + w / 2) / w  # cylinder-ish
    col = cv.tex(rs, cs, color, np.broadcast_to(shade, inside.shape), 0.03, 0.02)
    cv.paint(rs, cs, inside, z, POLE, POLE, col)


def _streetlight(cv, rng, xp, z, sgn) -> None:
    hgt = rng.uniform(6.0, 8.5)
    _pole(cv, rng, xp, z, hgt, 0.16)
    arm = rng.uniform(1.2, 2.5)
    xa, xb = sorted((xp, xp - sgn * arm))
    t = max(0.1, z / cv.f * 1.01)
    q = cv.frontal(z, xa, xb, hgt - t, hgt)
    if q is not None:
        rs, cs, X, Y = q
        inside = (X >= xa) & (X <= xb) & (Y >= hgt - t) & (Y <= hgt)
        cv.paint(rs, cs, inside, z, POLE, POLE, np.array((95, 98, 100), _F32))
    lx = xp - sgn * arm
    q = cv.frontal(z - 0.01, lx - 0.35, lx + 0.35, hgt - 0.25, hgt + 0.05)
    if q is not None:
        rs, cs, X, Y = q
        inside = (np.abs(X - lx) < 0.35) & (Y > hgt - 0.25) & (Y < hgt + 0.05)
        cv.paint(rs, cs, inside, z - 0.01, POLE, POLE, np.array((70, 72, 75), _F32))


def _sign(cv, rng, xp, z) -> None:
    hgt = rng.uniform(2.2, 2.8)
    _pole(cv, rng, xp, z, hgt + 0.3, 0.08, (150, 150, 150))
    s = rng.uniform(0.55, 0.8)
    kind = int(rng.integers(4))
    cy = hgt + s / 2
    q = cv.frontal(z - 0.02, xp - s / 2, xp + s / 2, hgt, hgt + s)
    if q is None:
        return
    rs, cs, X, Y = q
    u, v = (X - xp) / (s / 2), (Y - cy) / (s / 2)
    rr = np.sqrt(u * u + v * v)
    if kind == 0:  # prohibitory: red ring, white inside
        inside = rr <= 1
        col = np.where((rr > 0.72)[..., None], (200, 30, 30), (235, 235, 235))
    elif kind == 1:  # mandatory: blue disc with a white arrow
        inside = rr <= 1
        arrow = (np.abs(u) < 0.15) & (np.abs(v) < 0.55)
        col = np.where(arrow[..., None], (240, 240, 240), (30, 80, 170))
    elif kind == 2:  # warning: red-rimmed triangle, point up
        inside = (v >= -0.85) & (np.abs(u) <= (0.85 - v) * 0.6)
        inner = (v >= -0.6) & (np.abs(u) <= (0.45 - v) * 0.6)
        col = np.where(inner[..., None], (235, 235, 230), (200, 30, 30))
    else:  # information: blue square
        inside = (np.abs(u) <= 0.85) & (np.abs(v) <= 0.85)
        inner = (np.abs(u) <= 0.4) & (np.abs(v) <= 0.5)
        col = np.where(inner[..., None], (240, 240, 240), (30, 80, 170))
    col = np.asarray(col, _F32) * (1 + 0.03 * cv.fine[rs, cs])[..., None]
    cv.paint(rs, cs, inside, z - 0.02, TRAFFIC_SIGN, TRAFFIC_SIGN, col)


def _traffic_light(cv, rng, xp, z) -> None:
    hgt = rng.uniform(2.6, 3.2)
    _pole(cv, rng, xp, z, hgt, 0.12, (80, 82, 85))
    w, h = 0.34, 0.95
    q = cv.frontal(z - 0.05, xp - w / 2, xp + w / 2, hgt, hgt + h)
    if q is None:
        return
    rs, cs, X, Y = q
    inside = (np.abs(X - xp) <= w / 2) & (Y >= hgt) & (Y <= hgt + h)
    col = np.broadcast_to(np.array((35, 35, 38), _F32), inside.shape + (3,)).copy()
    lit = int(rng.integers(3))
    lamps = [(200, 30, 20), (230, 170, 20), (40, 190, 80)]
    for i, c in enumerate(lamps):
        cy = hgt + h * (0.8 - 0.3 * i)
        lamp = (X - xp) ** 2 + (Y - cy) ** 2 < (0.1) ** 2
        cc = np.array(c, _F32) * (1.0 if i == lit else 0.3)
        col[lamp & inside] = cc
    cv.paint(rs, cs, inside, z - 0.05, TRAFFIC_LIGHT, TRAFFIC_LIGHT, col)


def _vehicle(cv, rng, label, inst, xc, z0, kind, facing_away=True) -> None:
    """A car / truck / bus as boxes: body, cabin (cars), glass, lights, wheels."""
    if kind == "car":
        w, L = rng.uniform(1.7, 1.95), rng.uniform(3.9, 4.8)
        H = rng.uniform(1.4, 1.7)
        belt = 0.55 * H + 0.1
        color = _jitter(rng, _pick(rng, _CAR_COLORS), 8)
    elif kind == "truck":
        w, L, H = 2.5, rng.uniform(6.5, 9.5), rng.uniform(3.0, 3.8)
        belt = H
        color = _jitter(rng, _pick(rng, [(230, 230, 230), (200, 60, 40), (60, 90, 150)]), 10)
    else:  # bus
        w, L, H = 2.55, rng.uniform(11.0, 13.0), rng.uniform(3.0, 3.3)
        belt = H
        color = _jitter(rng, _pick(rng, [(235, 210, 40), (220, 220, 215), (200, 40, 40)]), 8)
    x0, x1 = xc - w / 2, xc + w / 2
    clear = 0.28 if kind == "car" else 0.45
    _shadow(cv, x0, x1, z0, z0 + L)
    sgn_side = 0
    if x0 > 0.05:
        sgn_side = -1  # we see its left side, at X = x0
    elif x1 < -0.05:
        sgn_side = 1
    xs = x0 if sgn_side < 0 else x1
    glass = np.array((45, 52, 62), _F32)

    def body(yb, yt, za, zb, xa, xb, base, glassy=None):
        # Rear face.
        q = cv.frontal(za, xa, xb, yb, yt)
        if q is not None:
            rs, cs, X, Y = q
            inside = (X >= xa) & (X <= xb) & (Y >= yb) & (Y <= yt)
            t = np.clip((Y - yb) / (yt - yb), 0, 1)
            shade = np.broadcast_to(0.72 + 0.35 * t, inside.shape)
            col = cv.tex(rs, cs, base, shade, 0.02, 0.02)
            if glassy is not None:
                gm = glassy("rear", X, Y) & inside
                gcol = glass * (0.8 + 0.6 * t)[..., None]
                col = np.where(gm[..., None], gcol, col)
            cv.paint(rs, cs, inside, za, label, inst, col)
        # Visible side.
        if sgn_side != 0:
            sx = xa if sgn_side < 0 else xb
            p = cv.side(sx, za, zb, yb, yt)
            if p is not None:
                rs, cs, Z, Y, inside = p
                t = np.clip((Y - yb) / (yt - yb), 0, 1)
                col = cv.tex(rs, cs, base, 0.62 + 0.3 * t, 0.02, 0.02)
                if glassy is not None:
                    gm = glassy("side", Z, Y) & inside
                    col = np.where(gm[..., None], glass * (0.7 + 0.5 * t)[..., None], col)
                cv.paint(rs, cs, inside, Z, label, inst, col)
        # Top, seen from above.
        p = cv.top(yt, xa, xb, za, zb)
        if p is not None:
            rs, cs, X, Z, inside = p
            col = cv.tex(rs, cs, base, 1.05, 0.02, 0.02)
            cv.paint(rs, cs, inside, Z, label, inst, col)

    if kind == "car":
        body(clear, belt, z0, z0 + L, x0, x1, color)
        ca, cb = z0 + 0.22 * L, z0 + 0.8 * L
        inset = 0.1

        def cabin_glass(face, a, Y):
            if face == "rear":
                return (np.abs(a - xc) < w / 2 - inset - 0.12) & (Y > belt + 0.04) & (Y < H - 0.07)
            pillar = np.abs(a - (ca + cb) / 2) > (cb - ca) / 2 - 0.15
            mid = np.abs(a - (ca + 0.55 * (cb - ca))) < 0.05
            return (Y > belt + 0.04) & (Y < H - 0.07) & ~pillar & ~mid

        body(belt, H, ca, cb, x0 + inset, x1 - inset, color, cabin_glass)
    elif kind == "truck":
        cab_l = 2.2
        body(clear, H, z0, z0 + L - cab_l - 0.2, x0, x1, color)
        cab_c = _jitter(rng, _pick(rng, [(220, 220, 220), (40, 60, 120), (180, 30, 30)]), 8)

        def cab_glass(face, a, Y):
            if face == "side":
                return (Y > 1.7) & (Y < 2.5) & (a > z0 + L - cab_l + 0.3)
            return np.zeros(np.broadcast_shapes(a.shape, Y.shape), bool)

        body(clear, 2.8, z0 + L - cab_l, z0 + L, x0 + 0.05, x1 - 0.05, cab_c, cab_glass)
    else:

        def bus_glass(face, a, Y):
            if face == "rear":
                return (np.abs(a - xc) < w / 2 - 0.2) & (Y > 1.6) & (Y < H - 0.3)
            return (Y > 1.3) & (Y < H - 0.35) & (((a - z0) % 1.6) > 0.12)

        body(clear, H, z0, z0 + L, x0, x1, color, bus_glass)
    # Lights and number plate on the face we see.
    lamp = (200, 25, 25) if facing_away else (235, 235, 220)
    ly = belt - 0.22 if kind == "car" else 0.9
    for lx in (x0 + 0.05, x1 - 0.33):
        q = cv.frontal(z0 - 0.01, lx, lx + 0.28, ly, ly + 0.16)
        if q is not None:
            rs, cs, X, Y = q
            inside = (X >= lx) & (X <= lx + 0.28) & (Y >= ly) & (Y <= ly + 0.16)
            cv.paint(rs, cs, inside, z0 - 0.01, label, inst, np.array(lamp, _F32))
    q = cv.frontal(z0 - 0.01, xc - 0.26, xc + 0.26, 0.45, 0.57)
    if q is not None:
        rs, cs, X, Y = q
        inside = (np.abs(X - xc) <= 0.26) & (Y >= 0.45) & (Y <= 0.57)
        cv.paint(rs, cs, inside, z0 - 0.01, label, inst, np.array((225, 225, 215), _F32))
    # Wheels: tyres under the rear face, and discs on the visible side.
    tyre = np.array((25, 25, 27), _F32)
    r = 0.33 if kind == "car" else 0.5
    for tx in (x0 + 0.03, x1 - 0.28):
        q = cv.frontal(z0 + 0.6, tx, tx + 0.25, 0.0, clear + 0.05)
        if q is not None:
            rs, cs, X, Y = q
            inside = (X >= tx) & (X <= tx + 0.25) & (Y <= clear + 0.05)
            cv.paint(rs, cs, inside, z0 + 0.6, label, inst, tyre)
    if sgn_side != 0:
        wx = xs + (0.02 if sgn_side > 0 else -0.02)
        for zw in (z0 + 0.18 * L, z0 + 0.82 * L):
            p = cv.side(wx, zw - r, zw + r, 0.0, 2 * r)
            if p is None:
                continue
            rs, cs, Z, Y, inside = p
            d2 = (Z - zw) ** 2 + (Y - r) ** 2
            inside &= d2 <= r * r
            hub = d2 < (0.55 * r) ** 2
            col = np.where(hub[..., None], np.array((140, 140, 145), _F32), tyre)
            cv.paint(rs, cs, inside, Z, label, inst, col)


def _person(cv, rng, label, inst, xc, z, hgt=None, y0=0.0, sitting=False) -> None:
    h = hgt if hgt is not None else rng.uniform(1.55, 1.92)
    q = cv.frontal(z, xc - 0.3 * h, xc + 0.3 * h, y0, y0 + h)
    if q is None:
        return
    rs, cs, X, Y = q
    u, v = (X - xc) / h, (Y - y0) / h
    stride = rng.uniform(-0.12, 0.12)
    head = (u / 0.062) ** 2 + ((v - 0.925) / 0.075) ** 2 < 1
    neck = (np.abs(u) < 0.03) & (v > 0.83) & (v < 0.88)
    torso = (np.abs(u) / 0.135) ** 4 + (np.abs(v - 0.68) / 0.18) ** 4 < 1
    sleeve_l = np.abs(u + 0.15 + 0.05 * (0.82 - v)) < 0.034
    sleeve_r = np.abs(u - 0.15 - 0.05 * (0.82 - v)) < 0.034
    arms = (sleeve_l | sleeve_r) & (v > 0.45) & (v < 0.82)
    if sitting:
        legs = (np.abs(np.abs(u) - 0.08) < 0.045) & (v > 0.25) & (v < 0.55)
    else:
        la = np.abs(u + 0.055 - stride * (0.52 - v)) < 0.045
        lb = np.abs(u - 0.055 + stride * (0.52 - v)) < 0.045
        legs = (la | lb) & (v >= 0.0) & (v < 0.53)
    inside = head | neck | torso | arms | legs
    top = _jitter(rng, _pick(rng, _CLOTHES), 10)
    trou = _jitter(rng, _pick(rng, _TROUSERS), 8)
    skin = _jitter(rng, _pick(rng, _SKIN), 6)
    hair = _jitter(rng, _pick(rng, _HAIR), 6)
    shade = 0.75 + 0.35 * np.clip(v, 0, 1)
    col = cv.tex(rs, cs, top, np.broadcast_to(shade, inside.shape), 0.05, 0.03)
    col = np.where(legs[..., None], trou * shade[..., None], col)
    col = np.where(((arms & (v < 0.5)) | head | neck)[..., None], skin, col)
    back = rng.random() < 0.5
    hair_m = head & ((v > 0.95) | back)
    col = np.where(hair_m[..., None], hair, col)
    col = np.where((legs & (v < 0.03))[..., None], np.array((30, 28, 26), _F32), col)
    cv.paint(rs, cs, inside, z, label, inst, col)


def _cyclist(cv, rng, xc, z) -> None:
    """A rider on a bicycle seen from behind: two instances of different classes."""
    bike = cv.new_instance(BICYCLE)
    rider = cv.new_instance(RIDER)
    dark = np.array((30, 30, 32), _F32)
    frame = _jitter(rng, _pick(rng, [(40, 40, 45), (160, 30, 30), (40, 80, 150)]), 8)
    px = z / cv.f * 1.01
    tw = max(0.05, px)
    for zz, h_top in ((z, 0.7), (z + 1.0, 0.7)):  # rear and front wheel
        q = cv.frontal(zz, xc - tw / 2, xc + tw / 2, 0.0, h_top)
        if q is not None:
            rs, cs, X, Y = q
            inside = (np.abs(X - xc) <= tw / 2) & (Y <= h_top)
            cv.paint(rs, cs, inside, zz, BICYCLE, bike, dark)
    q = cv.frontal(z + 0.3, xc - 0.3, xc + 0.3, 0.3, 1.08)
    if q is not None:
        rs, cs, X, Y = q
        post = (np.abs(X - xc) <= max(0.04, px / 2)) & (Y >= 0.3) & (Y <= 0.95)
        saddle = (np.abs(X - xc) <= 0.09) & (Y >= 0.92) & (Y <= 0.98)
        bar = (np.abs(X - xc) <= 0.3) & (Y >= 1.02) & (Y <= 1.02 + max(0.04, px))
        cv.paint(rs, cs, post | saddle, z + 0.3, BICYCLE, bike, frame)
        cv.paint(rs, cs, bar, z + 0.9, BICYCLE, bike, dark)
    _person(
        cv,
        _child(rng),
        RIDER,
        rider,
        xc,
        z + 0.45,
        hgt=rng.uniform(1.3, 1.45),
        y0=0.5,
        sitting=True,
    )


# --------------------------------------------------------------------------------------
# The scene
# --------------------------------------------------------------------------------------


def _renumber(inst: np.ndarray) -> np.ndarray:
    """Make the per-class indices k of visible thing instances 0, 1, 2, ... in order."""
    ids = np.unique(inst)
    new = ids.copy()
    things = ids[ids >= 1000]
    if things.size:
        cls = things // 1000
        starts = np.searchsorted(cls, cls, side="left")
        new[ids >= 1000] = cls * 1000 + (np.arange(things.size) - starts)
    return new[np.searchsorted(ids, inst)].astype(np.int32)


def synthetic_scene(seed: int, height: int = 256, width: int = 512) -> SyntheticScene:
    """Draw one street scene; the same ``(seed, height, width)`` gives the same arrays.

    ``seed`` is anything ``numpy.random.default_rng`` accepts (a non-negative int); height
    and width must be at least 16 (32 and up gives recognisable scenes). The layout is in
    metres, so a larger size renders the same kind of street in more detail, not more of it.
    The global numpy random state is left alone."""
    height, width = int(height), int(width)
    if height < 16 or width < 16:
        raise ValueError(f"height and width must be >= 16, got {height}x{width}")
    # Two streams: what is where (independent of the size) and pixel noise (per size).
    layout_seq, texture_seq = np.random.SeedSequence(seed).spawn(2)
    rng, tex_rng = np.random.default_rng(layout_seq), np.random.default_rng(texture_seq)
    cv = _Canvas(rng, tex_rng, height, width)
    lay = _Layout(rng)
    # sun > 1: the right-hand facades are lit and the left ones in shade; < 1 the reverse.
    overcast = rng.random() < 0.4
    spread = rng.uniform(0.0, 0.06) if overcast else rng.uniform(0.08, 0.25)
    sun = 1.0 + spread * (1 if rng.random() < 0.5 else -1)

    _sky(cv, rng, tex_rng, overcast)
    grass = []
    for sgn in (-1, 1):
        grass += _facade_side(cv, rng, lay, sgn, sun)
    _backdrop(cv, _child(rng), lay)
    _ground(cv, _child(rng), lay, grass, sun)  # depth-tested like everything else

    # Street furniture along the curbs.
    for sgn in (-1, 1):
        curb = lay.road_r + 0.5 if sgn > 0 else lay.road_l - 0.5
        walk = lay.walk_r if sgn > 0 else lay.walk_l
        light = sun if sgn > 0 else 2 - sun
        z = rng.uniform(6.0, 20.0)
        while z < lay.z_end * 0.8:
            _streetlight(cv, _child(rng), curb, z, sgn)
            z += rng.uniform(18.0, 32.0)
        if rng.random() < 0.75:
            z = rng.uniform(6.0, 14.0)
            while z < lay.z_end * 0.7:
                _tree(
                    cv, _child(rng), curb + sgn * rng.uniform(0.4, max(0.5, walk - 2.2)), z, light
                )
                z += rng.uniform(7.0, 15.0)
        for _ in range(int(rng.integers(0, 3))):
            _sign(cv, _child(rng), curb + sgn * 0.1, rng.uniform(5.0, 45.0))
    if lay.crosswalk is not None:
        zc = lay.crosswalk - 1.5
        _traffic_light(cv, _child(rng), lay.road_r + 0.6, zc)
        _traffic_light(cv, _child(rng), lay.road_l - 0.6, zc + 5.5)

    _traffic(cv, rng, lay)
    _pedestrians(cv, rng, lay)
    if rng.random() < 0.5:
        _ego_hood(cv, _child(rng))

    # Aerial perspective: far things fade towards the horizon haze.
    haze_c = cv.haze
    fin = np.isfinite(cv.depth)
    t = np.where(fin, np.exp(-cv.depth / rng.uniform(180.0, 400.0)), 1.0).astype(_F32)
    cv.img = cv.img * t[..., None] + haze_c * (1 - t)[..., None]
    # Exposure, white balance and a soft vignette.
    gain = rng.uniform(0.9, 1.08) * (1 + rng.normal(0, 0.03, 3)).astype(_F32)
    ry = ((cv.ys - height / 2) / height)[:, None]
    rx = ((cv.xs - width / 2) / width)[None, :]
    vig = 1 - 0.35 * (rx * rx + ry * ry)
    img = cv.img * (gain * 1.0)[None, None, :] * vig[..., None]
    image = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    return SyntheticScene(cv.labels, _renumber(cv.inst), image)


def _ego_hood(cv, rng) -> None:
    """The bonnet of our own car at the bottom, as in most Cityscapes frames (label 1)."""
    hh = rng.uniform(0.06, 0.12) * cv.h
    xc = cv.w * rng.uniform(0.45, 0.55)
    reach = cv.w / 2 * rng.uniform(0.75, 0.95)  # half-width where it meets the bottom edge
    y_top = cv.h - hh + hh * ((cv.xs - xc) / reach) ** 2
    r0 = max(0, int(cv.h - hh))
    rs, cs = slice(r0, cv.h), slice(0, cv.w)
    mask = cv.ys[r0:, None] > y_top[None, :]
    t = np.clip((cv.ys[r0:, None] - y_top[None, :]) / max(hh, 1.0), 0, 1)
    base = _jitter(rng, _pick(rng, [(40, 42, 46), (120, 122, 126), (200, 200, 204)]), 6)
    shade = 1.15 - 0.5 * t  # sky reflection near the edge, darker below
    col = cv.tex(rs, cs, base, shade, fine=0.015, blotch=0.01)
    cv.paint(rs, cs, mask, 0.05, EGO_VEHICLE, EGO_VEHICLE, col)


def _traffic(cv, rng, lay) -> None:
    # Parked cars: rows along the parking strips, bumper to bumper, so neighbours touch.
    for sgn, park in ((1, lay.park_r), (-1, lay.park_l)):
        if not park:
            continue
        edge = lay.road_r if sgn > 0 else lay.road_l
        z = rng.uniform(5.0, 16.0)
        while z < lay.z_end * 0.7:
            n = int(rng.integers(2, 6))
            for _ in range(n):
                xc = edge - sgn * rng.uniform(1.05, 1.25)
                kind, label = ("car", CAR) if rng.random() < 0.93 else ("truck", TRUCK)
                inst = cv.new_instance(label)
                length = _vehicle_len(kind)
                _vehicle(cv, _child(rng), label, inst, xc, z, kind, facing_away=sgn > 0)
                z += length + rng.uniform(0.0, 0.6)
            z += rng.uniform(4.0, 25.0)
    # Moving traffic: our lane and the other lanes.
    lanes = [0.0] + [lay.centre - lay.lane / 2 - i * lay.lane for i in range(lay.lanes_left)]
    for li, xl in enumerate(lanes):
        z = rng.uniform(7.0, 25.0)
        while z < lay.z_end * 0.85 and rng.random() < 0.8:
            kind, label = _pick(rng, [("car", CAR)] * 8 + [("truck", TRUCK), ("bus", BUS)])
            inst = cv.new_instance(label)
            xc = xl + rng.uniform(-0.25, 0.25)
            _vehicle(cv, _child(rng), label, inst, xc, z, kind, facing_away=li == 0)
            z += _vehicle_len(kind) + rng.uniform(3.0, 30.0)
    if rng.random() < 0.45:
        xc = lay.road_r - (2.6 if lay.park_r else 0.8)
        _cyclist(cv, _child(rng), xc, rng.uniform(8.0, 30.0))


def _vehicle_len(kind: str) -> float:
    return {"car": 4.8, "truck": 9.5, "bus": 13.0}[kind]


def _pedestrians(cv, rng, lay) -> None:
    n_groups = int(rng.integers(3, 8))
    for _ in range(n_groups):
        sgn = 1 if rng.random() < 0.55 else -1
        edge, walk = (lay.road_r, lay.walk_r) if sgn > 0 else (lay.road_l, lay.walk_l)
        z = rng.uniform(5.0, 35.0)
        x = edge + sgn * rng.uniform(0.8, max(0.9, walk - 0.6))
        if lay.crosswalk is not None and rng.random() < 0.35:
            z = lay.crosswalk + rng.uniform(0.5, 3.5)
            x = rng.uniform(lay.road_l + 1.0, lay.road_r - 1.0)
        size = int(rng.choice([1, 2, 2, 3, 3, 4]))
        for i in range(size):
            inst = cv.new_instance(PERSON)
            # Shoulder to shoulder, a little staggered in depth: silhouettes touch.
            _person(
                cv,
                _child(rng),
                PERSON,
                inst,
                x + i * rng.uniform(0.38, 0.55),
                z + rng.uniform(0, 0.6),
            )
