# SPDX-License-Identifier: Apache-2.0
"""Tests of the procedural street-scene generator (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from p2phd.data import synthetic
from p2phd.data.synthetic import (
    CITYSCAPES_PALETTE,
    NUM_LABELS,
    THING_LABELS,
    SyntheticScene,
    colorize,
    synthetic_scene,
)

SIZES = [(256, 512), (32, 32), (33, 47), (64, 31), (97, 193), (128, 256), (257, 511)]


def _class_of(instances: np.ndarray) -> np.ndarray:
    i = instances.astype(np.int64)
    return np.where(i < 1000, i, i // 1000)


def _touching_pairs(instances: np.ndarray) -> set[tuple[int, int]]:
    """Pairs of different thing instances of one class that are 4-neighbours somewhere."""
    pairs = set()
    for a, b in (
        (instances[:, 1:], instances[:, :-1]),
        (instances[1:, :], instances[:-1, :]),
    ):
        m = (a != b) & (a >= 1000) & (b >= 1000) & (a // 1000 == b // 1000)
        for x, y in zip(a[m].tolist(), b[m].tolist(), strict=True):
            pairs.add((min(x, y), max(x, y)))
    return pairs


@pytest.fixture(scope="module")
def scenes() -> list[SyntheticScene]:
    return [synthetic_scene(seed) for seed in range(12)]


def test_same_seed_same_arrays():
    a, b = synthetic_scene(7), synthetic_scene(7)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_different_seeds_differ():
    a, b = synthetic_scene(1), synthetic_scene(2)
    assert not np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.instances, b.instances)
    assert not np.array_equal(a.image, b.image)


def test_same_scene_at_any_size():
    """The layout does not depend on the size: a seed renders the same street at 256x512
    and at 1024x2048 (useful for global vs. local-enhancer resolutions)."""
    for seed in range(3):
        small = synthetic_scene(seed, 256, 512).labels
        big = synthetic_scene(seed, 1024, 2048).labels[2::4, 2::4]
        assert np.mean(small == big) > 0.97


def test_does_not_touch_global_random_state():
    np.random.seed(0)
    before = np.random.random()
    np.random.seed(0)
    synthetic_scene(3)
    assert np.random.random() == before


@pytest.mark.parametrize("height,width", SIZES)
def test_dtypes_shapes_and_conventions(height, width):
    for seed in range(3):
        s = synthetic_scene(seed, height, width)
        assert isinstance(s, SyntheticScene)
        assert s.labels.shape == (height, width) and s.labels.dtype == np.uint8
        assert s.instances.shape == (height, width) and s.instances.dtype == np.int32
        assert s.image.shape == (height, width, 3) and s.image.dtype == np.uint8
        # Valid Cityscapes labelIds only.
        assert int(s.labels.max()) < NUM_LABELS
        # Public convention: class = i if i < 1000 else i // 1000, everywhere.
        np.testing.assert_array_equal(_class_of(s.instances), s.labels)
        # Stuff pixels carry their label id; thing classes never do.
        stuff = s.instances < 1000
        assert not np.isin(s.labels[stuff], THING_LABELS).any()
        assert np.isin(s.labels[~stuff], THING_LABELS).all()
        # Instance ids fit a 16-bit PNG like Cityscapes' *_instanceIds.png.
        assert int(s.instances.min()) >= 0 and int(s.instances.max()) < 2**16


def test_instance_indices_are_contiguous_per_class(scenes):
    for s in scenes:
        ids = np.unique(s.instances[s.instances >= 1000])
        for c in np.unique(ids // 1000):
            ks = np.sort(ids[ids // 1000 == c] % 1000)
            np.testing.assert_array_equal(ks, np.arange(ks.size))


def test_street_scene_content(scenes):
    present = np.zeros(NUM_LABELS, int)
    for s in scenes:
        labels = set(np.unique(s.labels).tolist())
        # Every scene has sky, road, buildings or vegetation, and cars.
        assert {synthetic.SKY, synthetic.ROAD, synthetic.CAR} <= labels
        assert labels & {synthetic.BUILDING, synthetic.VEGETATION}
        # Sky above road: the top row has no road, the bottom quarter is mostly road.
        assert synthetic.ROAD not in set(s.labels[0].tolist())
        assert np.mean(s.labels[-s.labels.shape[0] // 4 :] == synthetic.ROAD) > 0.3
        present[list(labels)] += 1
    for name in ("SIDEWALK", "POLE", "TRAFFIC_SIGN", "PERSON"):
        assert present[getattr(synthetic, name)] >= len(scenes) // 2, name
    for name in ("WALL", "FENCE", "TRAFFIC_LIGHT", "TERRAIN", "RIDER", "BICYCLE", "TRUCK", "BUS"):
        assert present[getattr(synthetic, name)] >= 1, name


def test_several_instances_per_class(scenes):
    for s in scenes:
        cars = np.unique(s.instances[s.labels == synthetic.CAR])
        assert cars.size >= 3


def test_same_class_instances_touch(scenes):
    """Instance boundaries matter: same-class neighbours (bumper-to-bumper parked cars,
    groups of pedestrians) must be separated by their ids, not by their labels."""
    touching = [bool(_touching_pairs(s.instances)) for s in scenes]
    assert np.mean(touching) >= 0.9
    people = 0
    for seed in range(30):
        s = synthetic_scene(seed)
        people += any(a // 1000 == synthetic.PERSON for a, _ in _touching_pairs(s.instances))
    assert people >= 15


def test_image_texture_and_instance_colours(scenes):
    checked = 0
    for s in scenes:
        img = s.image.astype(np.float64)
        # Texture: pixels inside any sizeable instance are not one flat colour.
        ids, counts = np.unique(s.instances, return_counts=True)
        for i in ids[counts >= 200]:
            assert img[s.instances == i].std(axis=0).max() > 2.0, i
        # Colour variation: big instances of one class do not all share a mean colour.
        for c in (synthetic.CAR, synthetic.PERSON):
            mine = (ids >= 1000) & (ids // 1000 == c) & (counts >= 150)
            big = ids[mine].tolist()
            if len(big) >= 2:
                means = np.array([img[s.instances == i].mean(axis=0) for i in big])
                spread = np.abs(means[:, None] - means[None]).max(axis=-1)
                assert spread[np.triu_indices(len(big), 1)].max() > 8.0
                checked += 1
    assert checked >= 6


def test_image_is_a_photo_not_a_label_map(scenes):
    for s in scenes:
        assert not np.array_equal(s.image, colorize(s.labels))
        # Sky is brighter than road on average.
        sky = s.image[s.labels == synthetic.SKY].mean()
        road = s.image[s.labels == synthetic.ROAD].mean()
        assert sky > road


def test_colorize():
    assert CITYSCAPES_PALETTE.shape == (NUM_LABELS, 3) and CITYSCAPES_PALETTE.dtype == np.uint8
    assert tuple(CITYSCAPES_PALETTE[synthetic.ROAD]) == (128, 64, 128)
    assert tuple(CITYSCAPES_PALETTE[synthetic.CAR]) == (0, 0, 142)
    assert tuple(CITYSCAPES_PALETTE[synthetic.SKY]) == (70, 130, 180)
    s = synthetic_scene(0, 64, 128)
    rgb = colorize(s.labels)
    assert rgb.shape == (64, 128, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(colorize(s.instances), rgb)
    with pytest.raises(ValueError):
        colorize(np.array([[35]]))
    with pytest.raises(ValueError):
        colorize(np.array([[-1]]))
    with pytest.raises(TypeError):
        colorize(np.zeros((2, 2), np.float32))


def test_rejects_tiny_sizes():
    with pytest.raises(ValueError):
        synthetic_scene(0, 8, 64)
