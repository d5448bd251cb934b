# SPDX-License-Identifier: Apache-2.0
"""The street's fixed parts: sky, road and sidewalks, facades and buildings, hedges, walls,
fences, trees, poles, street lights, signs and traffic lights."""

from __future__ import annotations

import numpy as np

from p2phd.data.synthetic.canvas import F32, Canvas, child_rng, jitter, pick, smooth_noise
from p2phd.data.synthetic.labels import (
    BUILDING,
    FENCE,
    POLE,
    ROAD,
    SIDEWALK,
    SKY,
    TERRAIN,
    TRAFFIC_LIGHT,
    TRAFFIC_SIGN,
    VEGETATION,
    WALL,
)

# RGB facade colours, several a row (fmt: skip keeps the rows).
_FACADES = [
    (205, 192, 168), (222, 216, 204), (160, 158, 152), (150, 86, 64), (214, 194, 140),
    (206, 172, 158), (112, 112, 118), (146, 156, 166), (190, 170, 130), (232, 228, 220),
]  # fmt: skip


class Layout:
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


def draw_sky(cv: Canvas, rng: np.random.Generator, tex_rng, overcast: bool) -> None:
    if overcast:
        top = jitter(rng, (170, 180, 192), 8)
        hor = jitter(rng, (215, 218, 222), 6)
    else:
        top = jitter(rng, (70, 120, 190), 10)
        hor = jitter(rng, (190, 210, 228), 8)
    t = np.clip(cv.ys / max(cv.yh, 1.0), 0, 1)[:, None, None] ** 1.3
    sky = top * (1 - t) + hor * t
    sky = np.broadcast_to(sky, (cv.h, cv.w, 3)).copy()
    # Clouds: soft-thresholded noise, stretched sideways, thinning towards the horizon.
    n = smooth_noise(tex_rng, cv.h, cv.w, cv.w / 22, cv.w / 7)
    n += 0.5 * smooth_noise(tex_rng, cv.h, cv.w, cv.w / 50, cv.w / 18)
    n += 0.25 * smooth_noise(tex_rng, cv.h, cv.w, cv.w / 110, cv.w / 40)
    amount = rng.uniform(0.1, 0.9)
    cloud = np.clip((n - (1.0 - amount)) * 1.2, 0, 1) * (1 - 0.6 * t[..., 0])
    white = np.array((238, 240, 243), F32) if not overcast else np.array((200, 203, 208), F32)
    sky += (white - sky) * cloud[..., None]
    cv.img[:] = sky
    cv.haze = hor
    cv.labels[:] = SKY
    cv.inst[:] = SKY


def draw_ground(cv: Canvas, rng: np.random.Generator, lay: Layout, grass, sun: float) -> None:
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

    asphalt = jitter(rng, (88, 88, 92), 8)
    paving = jitter(rng, pick(rng, [(150, 148, 145), (165, 150, 140), (135, 135, 138)]), 8)
    grass_c = jitter(rng, (95, 120, 55), 10)
    img = np.empty(X.shape + (3,), F32)
    fine, blotch = cv.fine[rs, cs], cv.blotch[rs, cs]
    # Road: asphalt with blotches, lighter far away, darker tyre tracks.
    shade = 1.0 + 0.05 * fine + 0.035 * blotch
    tracks = np.abs(((X - 0.0) % lay.lane) - lay.lane / 2)  # distance to lane centre
    shade = shade * (1.0 - 0.06 * np.exp(-((tracks - 0.8) ** 2) / 0.08))
    img[:] = asphalt * shade[..., None]
    paint = _lane_markings(rng, lay, X, Z, px)
    paint *= is_road
    white = np.array((215, 215, 210), F32) * (1 + 0.04 * fine)[..., None]
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
        _building_shadows(img, rng, lay, X, Z, px, sun)
    cv.paint(rs, cs, np.ones(X.shape, bool), Z, label, label, img)


def _lane_markings(rng: np.random.Generator, lay: Layout, X, Z, px) -> np.ndarray:
    """Coverage (0..1) of the lane markings, antialiased by their coverage of a pixel."""
    paint = np.zeros(X.shape, F32)

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
        np.maximum(paint, stripes.astype(F32), out=paint)
        # Stop line before the crosswalk, across the lanes of our direction.
        stop = (Z >= zc - 1.4) & (Z <= zc - 1.0) & (X > lay.centre)
        np.maximum(paint, stop.astype(F32), out=paint)
    return paint


def _building_shadows(img, rng: np.random.Generator, lay: Layout, X, Z, px, sun: float) -> None:
    """Darken ``img`` where the buildings on the sun's side shade the street."""
    # Sun from the left when the right-hand facades are lit (sun > 1), and vice versa.
    skyline = lay.skyline_l if sun > 1 else lay.skyline_r
    if skyline:
        ends = np.array([e for e, _ in skyline], F32)
        hs = np.array([h for _, h in skyline] + [0.0], F32)
        hrow = hs[np.searchsorted(ends, Z[:, 0])][:, None]
        reach = hrow * rng.uniform(0.2, 0.9)  # cot(sun elevation)
        if sun > 1:
            into = lay.face_l + reach - X  # metres inside the shadow
        else:
            into = X - (lay.face_r - reach)
        k = np.clip(0.5 + into / np.maximum(px, 0.15), 0, 1)
        img *= (1.0 - min(0.38, 1.6 * abs(sun - 1.0)) * k)[..., None]


def shadow(cv: Canvas, x0, x1, z0, z1, strength=0.45) -> None:
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


def facade_side(cv, rng, lay, sgn, sun) -> list:
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
            hgt = _building_face(cv, child_rng(rng), face, sgn, z, z1, light, prev_h)
            prev_h = hgt
        else:
            prev_h = 0.0
            back = face + sgn * rng.uniform(0.0, 3.0)
            hgt = rng.uniform(2.5, 9.0)
            _hedge(cv, child_rng(rng), back, z, z1, hgt, light)
            if kind == 1:
                grass.append((sgn, z, z1, rng.uniform(0.8, 2.0)))
            elif kind == 2:
                _wall(cv, child_rng(rng), face, z, z1, light)
            else:
                _fence(cv, child_rng(rng), face, z, z1, light)
        skyline.append((z1, hgt))
        z = z1
    return grass


def _building_face(cv, rng, face, sgn, z0, z1, light, prev_h) -> float:
    hgt = rng.uniform(7.0, 24.0)
    base = jitter(rng, pick(rng, _FACADES), 10)
    floor_h = rng.uniform(2.9, 3.5)
    spacing = rng.uniform(2.0, 3.4)
    win_w = rng.uniform(0.35, 0.6)
    win_h = rng.uniform(0.4, 0.6)
    glass = jitter(rng, (60, 70, 82), 10)
    frame = rng.random() < 0.4
    shop = rng.random() < 0.5
    off = rng.uniform(0, spacing)
    # Ground floor in another material (stone, render, tiles) and bands between floors.
    plinth_h = floor_h if rng.random() < 0.5 else rng.uniform(0.4, 1.0)
    plinth = jitter(rng, pick(rng, [(120, 115, 108), (90, 88, 86), (170, 160, 145)]), 8)
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
            col = np.where(rim[..., None], np.array((235, 235, 230), F32) * light, col)
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
    green = jitter(rng, (70, 95, 45), 10)
    shade = light * (0.7 + 0.4 * np.clip(Y / np.maximum(top, 1), 0, 1))
    col = cv.tex(rs, cs, green, shade, fine=0.22, blotch=0.2)
    cv.paint(rs, cs, inside, Z, VEGETATION, VEGETATION, col)


def _panel(cv, rng, xp, z0, z1, low, high):
    """A panel standing on the ground at X = xp, of a height drawn in [low, high]: (height,
    cv.side's rectangle), the rectangle None where the panel is not on the canvas."""
    hgt = rng.uniform(low, high)
    return hgt, cv.side(xp, z0, z1, 0.0, hgt)


def _wall(cv, rng, xp, z0, z1, light) -> None:
    hgt, p = _panel(cv, rng, xp, z0, z1, 0.8, 2.2)
    if p is None:
        return
    rs, cs, Z, Y, inside = p
    base = jitter(rng, pick(rng, [(170, 165, 155), (150, 110, 90), (130, 130, 128)]), 8)
    shade = light * np.where(Y > hgt - 0.15, 1.1, 0.9)
    col = cv.tex(rs, cs, base, shade, fine=0.06, blotch=0.08)
    cv.paint(rs, cs, inside, Z, WALL, WALL, col)


def _fence(cv, rng, xp, z0, z1, light) -> None:
    hgt, p = _panel(cv, rng, xp, z0, z1, 1.0, 2.0)
    if p is None:
        return
    rs, cs, Z, Y, inside = p
    pitch = rng.uniform(0.12, 0.3)
    # Pickets and rails; between them the fence is see-through when pixels are fine enough.
    px = Z / cv.f
    picket = ((Z % pitch) < pitch * 0.45) | (px * abs(cv.f / xp) * pitch > 0.3)
    rail = (np.abs(Y - 0.25 * hgt) < 0.05) | (np.abs(Y - 0.85 * hgt) < 0.05)
    inside &= picket | rail | (Y > hgt - 0.06)
    base = jitter(rng, pick(rng, [(90, 95, 90), (140, 120, 95), (60, 70, 60)]), 8)
    col = cv.tex(rs, cs, base, light, fine=0.06, blotch=0.05)
    cv.paint(rs, cs, inside, Z, FENCE, FENCE, col)


def backdrop(cv, rng, lay) -> None:
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
    tones = np.array([jitter(rng, pick(rng, _FACADES), 10) for _ in range(65)], F32)
    col = tones[blk][None, :, :] * np.ones((Y.shape[0], 1, 1), F32) * 0.9
    win = ((X % 2.6) < 1.0) & ((Y % 3.2) < 1.4) & (Y > 3.0) & (Y < top - 1)
    col = np.where(win[..., None], col * 0.55, col)
    col = col * (1 + 0.04 * cv.fine[rs, cs])[..., None]
    green = np.array((75, 95, 55), F32) * (1 + 0.2 * cv.fine[rs, cs])[..., None]
    col = np.where(tree[..., None], green, col)
    lab = np.where(tree, VEGETATION, BUILDING).astype(np.uint8)
    lab = np.broadcast_to(lab, inside.shape)
    cv.paint(rs, cs, inside, z, lab, lab, col)


def draw_tree(cv, rng, xc, z, light) -> None:
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
    green = jitter(rng, (72, 100, 42), 14)
    shade = light * (0.65 + 0.5 * np.clip((dy + r) / (2 * r), 0, 1))
    shade = shade * (1 - 0.25 * np.clip(dx * (1 if light < 1 else -1) / r, 0, 1))
    col = cv.tex(rs, cs, green, shade, fine=0.25, blotch=0.15)
    bark = np.array((75, 62, 50), F32) * light
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


def streetlight(cv, rng, xp, z, sgn) -> None:
    hgt = rng.uniform(6.0, 8.5)
    _pole(cv, rng, xp, z, hgt, 0.16)
    arm = rng.uniform(1.2, 2.5)
    xa, xb = sorted((xp, xp - sgn * arm))
    t = max(0.1, z / cv.f * 1.01)
    q = cv.frontal(z, xa, xb, hgt - t, hgt)
    if q is not None:
        rs, cs, X, Y = q
        inside = (X >= xa) & (X <= xb) & (Y >= hgt - t) & (Y <= hgt)
        cv.paint(rs, cs, inside, z, POLE, POLE, np.array((95, 98, 100), F32))
    lx = xp - sgn * arm
    q = cv.frontal(z - 0.01, lx - 0.35, lx + 0.35, hgt - 0.25, hgt + 0.05)
    if q is not None:
        rs, cs, X, Y = q
        inside = (np.abs(X - lx) < 0.35) & (Y > hgt - 0.25) & (Y < hgt + 0.05)
        cv.paint(rs, cs, inside, z - 0.01, POLE, POLE, np.array((70, 72, 75), F32))


def sign(cv, rng, xp, z) -> None:
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
    col = np.asarray(col, F32) * (1 + 0.03 * cv.fine[rs, cs])[..., None]
    cv.paint(rs, cs, inside, z - 0.02, TRAFFIC_SIGN, TRAFFIC_SIGN, col)


def traffic_light(cv, rng, xp, z) -> None:
    hgt = rng.uniform(2.6, 3.2)
    _pole(cv, rng, xp, z, hgt, 0.12, (80, 82, 85))
    w, h = 0.34, 0.95
    q = cv.frontal(z - 0.05, xp - w / 2, xp + w / 2, hgt, hgt + h)
    if q is None:
        return
    rs, cs, X, Y = q
    inside = (np.abs(X - xp) <= w / 2) & (Y >= hgt) & (Y <= hgt + h)
    col = np.broadcast_to(np.array((35, 35, 38), F32), inside.shape + (3,)).copy()
    lit = int(rng.integers(3))
    lamps = [(200, 30, 20), (230, 170, 20), (40, 190, 80)]
    for i, c in enumerate(lamps):
        cy = hgt + h * (0.8 - 0.3 * i)
        lamp = (X - xp) ** 2 + (Y - cy) ** 2 < (0.1) ** 2
        cc = np.array(c, F32) * (1.0 if i == lit else 0.3)
        col[lamp & inside] = cc
    cv.paint(rs, cs, inside, z - 0.05, TRAFFIC_LIGHT, TRAFFIC_LIGHT, col)
