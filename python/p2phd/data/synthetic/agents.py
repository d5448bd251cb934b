# SPDX-License-Identifier: Apache-2.0
"""Vehicles (cars, trucks, buses), pedestrians and cyclists, each its own instance."""

from __future__ import annotations

import numpy as np

from p2phd.data.synthetic.canvas import F32, child_rng, jitter, pick
from p2phd.data.synthetic.labels import BICYCLE, RIDER
from p2phd.data.synthetic.street import shadow

# RGB colour tables, several colours a row like the short ones below (fmt: skip keeps the rows).
_CAR_COLORS = [
    (225, 225, 228), (28, 28, 32), (168, 170, 174), (108, 110, 114), (30, 42, 92), (150, 24, 24),
    (42, 72, 140), (42, 82, 60), (190, 172, 134), (60, 60, 64), (200, 200, 205),
]  # fmt: skip
_CLOTHES = [
    (30, 30, 35), (60, 60, 70), (40, 55, 100), (120, 30, 35), (200, 200, 195), (90, 70, 50),
    (60, 90, 60), (150, 120, 80), (170, 60, 90), (45, 80, 130), (220, 180, 60),
]  # fmt: skip
_TROUSERS = [(30, 30, 40), (45, 60, 95), (60, 60, 60), (90, 80, 70), (20, 20, 25), (70, 90, 120)]
_SKIN = [(235, 200, 175), (210, 165, 130), (160, 110, 80), (110, 75, 55), (240, 215, 195)]
_HAIR = [(25, 20, 15), (70, 45, 25), (140, 100, 60), (200, 170, 110), (120, 120, 120)]


_GLASS = np.array((45, 52, 62), F32)


def _vehicle_size(rng, kind):
    """Width, length, height, belt line (top of the body below the glass) and body colour."""
    if kind == "car":
        w, L = rng.uniform(1.7, 1.95), rng.uniform(3.9, 4.8)
        H = rng.uniform(1.4, 1.7)
        belt = 0.55 * H + 0.1
        color = jitter(rng, pick(rng, _CAR_COLORS), 8)
    elif kind == "truck":
        w, L, H = 2.5, rng.uniform(6.5, 9.5), rng.uniform(3.0, 3.8)
        belt = H
        color = jitter(rng, pick(rng, [(230, 230, 230), (200, 60, 40), (60, 90, 150)]), 10)
    else:  # bus
        w, L, H = 2.55, rng.uniform(11.0, 13.0), rng.uniform(3.0, 3.3)
        belt = H
        color = jitter(rng, pick(rng, [(235, 210, 40), (220, 220, 215), (200, 40, 40)]), 8)
    return w, L, H, belt, color


def _box(cv, label, inst, sgn_side, yb, yt, za, zb, xa, xb, base, glassy=None):
    """One box of a vehicle: its rear face, the side we see (sgn_side -1 left, 1 right, 0
    none) and its top; glassy(face, a, Y) marks the windows on a face."""
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
            gcol = _GLASS * (0.8 + 0.6 * t)[..., None]
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
                col = np.where(gm[..., None], _GLASS * (0.7 + 0.5 * t)[..., None], col)
            cv.paint(rs, cs, inside, Z, label, inst, col)
    # Top, seen from above.
    p = cv.top(yt, xa, xb, za, zb)
    if p is not None:
        rs, cs, X, Z, inside = p
        col = cv.tex(rs, cs, base, 1.05, 0.02, 0.02)
        cv.paint(rs, cs, inside, Z, label, inst, col)


def vehicle(cv, rng, label, inst, xc, z0, kind, facing_away=True) -> None:
    """A car / truck / bus as boxes: body, cabin (cars), glass, lights, wheels."""
    w, L, H, belt, color = _vehicle_size(rng, kind)
    x0, x1 = xc - w / 2, xc + w / 2
    clear = 0.28 if kind == "car" else 0.45
    shadow(cv, x0, x1, z0, z0 + L)
    sgn_side = 0
    if x0 > 0.05:
        sgn_side = -1  # we see its left side, at X = x0
    elif x1 < -0.05:
        sgn_side = 1

    def body(yb, yt, za, zb, xa, xb, base, glassy=None):
        _box(cv, label, inst, sgn_side, yb, yt, za, zb, xa, xb, base, glassy)

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
        cab_c = jitter(rng, pick(rng, [(220, 220, 220), (40, 60, 120), (180, 30, 30)]), 8)

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
    _vehicle_lights(cv, label, inst, kind, xc, x0, x1, z0, belt, facing_away)
    _vehicle_wheels(cv, label, inst, kind, x0, x1, z0, L, clear, sgn_side)


def _vehicle_lights(cv, label, inst, kind, xc, x0, x1, z0, belt, facing_away):
    """Lights and number plate on the face we see."""
    lamp = (200, 25, 25) if facing_away else (235, 235, 220)
    ly = belt - 0.22 if kind == "car" else 0.9
    for lx in (x0 + 0.05, x1 - 0.33):
        q = cv.frontal(z0 - 0.01, lx, lx + 0.28, ly, ly + 0.16)
        if q is not None:
            rs, cs, X, Y = q
            inside = (X >= lx) & (X <= lx + 0.28) & (Y >= ly) & (Y <= ly + 0.16)
            cv.paint(rs, cs, inside, z0 - 0.01, label, inst, np.array(lamp, F32))
    q = cv.frontal(z0 - 0.01, xc - 0.26, xc + 0.26, 0.45, 0.57)
    if q is not None:
        rs, cs, X, Y = q
        inside = (np.abs(X - xc) <= 0.26) & (Y >= 0.45) & (Y <= 0.57)
        cv.paint(rs, cs, inside, z0 - 0.01, label, inst, np.array((225, 225, 215), F32))


def _vehicle_wheels(cv, label, inst, kind, x0, x1, z0, L, clear, sgn_side):
    """Tyres under the rear face, and discs on the visible side."""
    xs = x0 if sgn_side < 0 else x1
    tyre = np.array((25, 25, 27), F32)
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
            col = np.where(hub[..., None], np.array((140, 140, 145), F32), tyre)
            cv.paint(rs, cs, inside, Z, label, inst, col)


def person(cv, rng, label, inst, xc, z, hgt=None, y0=0.0, sitting=False) -> None:
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
    top = jitter(rng, pick(rng, _CLOTHES), 10)
    trou = jitter(rng, pick(rng, _TROUSERS), 8)
    skin = jitter(rng, pick(rng, _SKIN), 6)
    hair = jitter(rng, pick(rng, _HAIR), 6)
    shade = 0.75 + 0.35 * np.clip(v, 0, 1)
    col = cv.tex(rs, cs, top, np.broadcast_to(shade, inside.shape), 0.05, 0.03)
    col = np.where(legs[..., None], trou * shade[..., None], col)
    col = np.where(((arms & (v < 0.5)) | head | neck)[..., None], skin, col)
    back = rng.random() < 0.5
    hair_m = head & ((v > 0.95) | back)
    col = np.where(hair_m[..., None], hair, col)
    col = np.where((legs & (v < 0.03))[..., None], np.array((30, 28, 26), F32), col)
    cv.paint(rs, cs, inside, z, label, inst, col)


def cyclist(cv, rng, xc, z) -> None:
    """A rider on a bicycle seen from behind: two instances of different classes."""
    bike = cv.new_instance(BICYCLE)
    rider = cv.new_instance(RIDER)
    dark = np.array((30, 30, 32), F32)
    frame = jitter(rng, pick(rng, [(40, 40, 45), (160, 30, 30), (40, 80, 150)]), 8)
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
    person(
        cv,
        child_rng(rng),
        RIDER,
        rider,
        xc,
        z + 0.45,
        hgt=rng.uniform(1.3, 1.45),
        y0=0.5,
        sitting=True,
    )
