# SPDX-License-Identifier: Apache-2.0
"""synthetic_scene(): a whole street scene laid out, drawn and numbered."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from p2phd.data.synthetic.agents import cyclist, person, vehicle
from p2phd.data.synthetic.canvas import F32, Canvas, child_rng, jitter, pick
from p2phd.data.synthetic.labels import BUS, CAR, EGO_VEHICLE, PERSON, TRUCK
from p2phd.data.synthetic.street import (
    Layout,
    backdrop,
    draw_ground,
    draw_sky,
    draw_tree,
    facade_side,
    sign,
    streetlight,
    traffic_light,
)


class SyntheticScene(NamedTuple):
    """One synthetic sample: ``labels`` uint8 H×W, ``instances`` int32 H×W, ``image`` uint8
    H×W×3 (RGB)."""

    labels: np.ndarray
    instances: np.ndarray
    image: np.ndarray


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
    cv = Canvas(rng, tex_rng, height, width)
    lay = Layout(rng)
    # sun > 1: the right-hand facades are lit and the left ones in shade; < 1 the reverse.
    overcast = rng.random() < 0.4
    spread = rng.uniform(0.0, 0.06) if overcast else rng.uniform(0.08, 0.25)
    sun = 1.0 + spread * (1 if rng.random() < 0.5 else -1)

    draw_sky(cv, rng, tex_rng, overcast)
    grass = []
    for sgn in (-1, 1):
        grass += facade_side(cv, rng, lay, sgn, sun)
    backdrop(cv, child_rng(rng), lay)
    draw_ground(cv, child_rng(rng), lay, grass, sun)  # depth-tested like everything else

    # Street furniture along the curbs.
    for sgn in (-1, 1):
        curb = lay.road_r + 0.5 if sgn > 0 else lay.road_l - 0.5
        walk = lay.walk_r if sgn > 0 else lay.walk_l
        light = sun if sgn > 0 else 2 - sun
        z = rng.uniform(6.0, 20.0)
        while z < lay.z_end * 0.8:
            streetlight(cv, child_rng(rng), curb, z, sgn)
            z += rng.uniform(18.0, 32.0)
        if rng.random() < 0.75:
            z = rng.uniform(6.0, 14.0)
            while z < lay.z_end * 0.7:
                draw_tree(
                    cv,
                    child_rng(rng),
                    curb + sgn * rng.uniform(0.4, max(0.5, walk - 2.2)),
                    z,
                    light,
                )
                z += rng.uniform(7.0, 15.0)
        for _ in range(int(rng.integers(0, 3))):
            sign(cv, child_rng(rng), curb + sgn * 0.1, rng.uniform(5.0, 45.0))
    if lay.crosswalk is not None:
        zc = lay.crosswalk - 1.5
        traffic_light(cv, child_rng(rng), lay.road_r + 0.6, zc)
        traffic_light(cv, child_rng(rng), lay.road_l - 0.6, zc + 5.5)

    _traffic(cv, rng, lay)
    _pedestrians(cv, rng, lay)
    if rng.random() < 0.5:
        _ego_hood(cv, child_rng(rng))

    # Aerial perspective: far things fade towards the horizon haze.
    haze_c = cv.haze
    fin = np.isfinite(cv.depth)
    t = np.where(fin, np.exp(-cv.depth / rng.uniform(180.0, 400.0)), 1.0).astype(F32)
    cv.img = cv.img * t[..., None] + haze_c * (1 - t)[..., None]
    # Exposure, white balance and a soft vignette.
    gain = rng.uniform(0.9, 1.08) * (1 + rng.normal(0, 0.03, 3)).astype(F32)
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
    base = jitter(rng, pick(rng, [(40, 42, 46), (120, 122, 126), (200, 200, 204)]), 6)
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
                vehicle(cv, child_rng(rng), label, inst, xc, z, kind, facing_away=sgn > 0)
                z += length + rng.uniform(0.0, 0.6)
            z += rng.uniform(4.0, 25.0)
    # Moving traffic: our lane and the other lanes.
    lanes = [0.0] + [lay.centre - lay.lane / 2 - i * lay.lane for i in range(lay.lanes_left)]
    for li, xl in enumerate(lanes):
        z = rng.uniform(7.0, 25.0)
        while z < lay.z_end * 0.85 and rng.random() < 0.8:
            kind, label = pick(rng, [("car", CAR)] * 8 + [("truck", TRUCK), ("bus", BUS)])
            inst = cv.new_instance(label)
            xc = xl + rng.uniform(-0.25, 0.25)
            vehicle(cv, child_rng(rng), label, inst, xc, z, kind, facing_away=li == 0)
            z += _vehicle_len(kind) + rng.uniform(3.0, 30.0)
    if rng.random() < 0.45:
        xc = lay.road_r - (2.6 if lay.park_r else 0.8)
        cyclist(cv, child_rng(rng), xc, rng.uniform(8.0, 30.0))


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
            person(
                cv,
                child_rng(rng),
                PERSON,
                inst,
                x + i * rng.uniform(0.38, 0.55),
                z + rng.uniform(0, 0.6),
            )
