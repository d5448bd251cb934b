# SPDX-License-Identifier: Apache-2.0
"""The rendering machinery: a pinhole camera over a ground plane with label, instance,
image and depth buffers, value noise, and the random helpers every drawing uses."""

from __future__ import annotations

import numpy as np

F32 = np.float32


def smooth_noise(
    rng: np.random.Generator, h: int, w: int, cell: float, cell_x: float | None = None
) -> np.ndarray:
    """Zero-mean value noise with feature size ``cell`` pixels (``cell_x`` across, when
    given), bilinear with smoothstep easing."""
    cy = max(float(cell), 1.0)
    cx = max(float(cell if cell_x is None else cell_x), 1.0)
    gh, gw = int(h / cy) + 2, int(w / cx) + 2
    g = rng.standard_normal((gh, gw)).astype(F32)
    y = (np.arange(h, dtype=F32) + 0.5) / cy
    x = (np.arange(w, dtype=F32) + 0.5) / cx
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


class Canvas:
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
        self.ys = np.arange(height, dtype=F32) + 0.5
        self.xs = np.arange(width, dtype=F32) + 0.5
        self.depth = np.full((height, width), np.inf, dtype=F32)
        self.labels = np.zeros((height, width), dtype=np.uint8)
        self.inst = np.zeros((height, width), dtype=np.int32)
        self.img = np.zeros((height, width, 3), dtype=F32)
        # Texture fields shared by everything (sliced per primitive).
        self.fine = tex_rng.standard_normal((height, width), dtype=F32)
        self.blotch = smooth_noise(tex_rng, height, width, max(2.0, width / 48))
        self.haze = np.array((200, 205, 210), F32)
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
        Z = np.where(ok, f * xp / np.where(ok, dx, 1), 1e6).astype(F32)
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
        return np.asarray(base, F32) * (np.asarray(shade, F32) * n)[..., None]


def child_rng(rng: np.random.Generator) -> np.random.Generator:
    """A generator of its own for one object: the parent advances by one draw whatever the
    object draws, or skips because it is off screen, so the layout is the same at any size."""
    return np.random.default_rng(int(rng.integers(2**63)))


def pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def jitter(rng: np.random.Generator, color, amount: float = 12.0) -> np.ndarray:
    """Vary a colour: mostly in brightness, a little in hue."""
    c = np.asarray(color, F32) + F32(rng.normal(0.0, amount))
    c = c + rng.normal(0.0, amount / 3, 3).astype(F32)
    return np.clip(c, 0, 255)
