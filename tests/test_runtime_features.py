# SPDX-License-Identifier: Apache-2.0
"""runtime.features: the ids of an instance map (read from its runs) and the styles drawn."""

from pathlib import Path

import numpy as np
import pytest
import torch

from p2phd.image_io import read_instance_map
from p2phd.ops import instance_class
from p2phd.runtime.features import cluster_features, draw_styles, instance_ids
from tests.conftest import CITYSCAPES

SAMPLES = CITYSCAPES / "test_inst"


@pytest.mark.parametrize(
    "image",
    [
        torch.zeros(1, 1, dtype=torch.int64),
        torch.tensor([[3, 3, 1], [1, 2, 3]]),
        torch.randint(0, 40, (37, 53), generator=torch.Generator().manual_seed(0)),
        torch.randint(0, 2**30, (16, 16), dtype=torch.int32),
        torch.arange(12).reshape(3, 4).t(),  # not contiguous
        torch.tensor([[7, -1], [-1, 7]]),
    ],
)
def test_instance_ids_are_the_unique_ids(image):
    assert instance_ids(image) == image.unique().tolist()


def test_instance_ids_of_an_empty_map():
    assert instance_ids(torch.zeros(0, 5, dtype=torch.int64)) == []


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared's Cityscapes samples are absent")
@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.png"))[:4], ids=lambda p: Path(p).stem)
def test_instance_ids_of_cityscapes_maps(path):
    image = torch.from_numpy(np.asarray(read_instance_map(path), dtype=np.int64))
    assert instance_ids(image) == image.unique().tolist()


@pytest.mark.parametrize("seed", range(40))
def test_draw_styles_draws_one_index_per_instance_in_turn(seed):
    # The contract of the drawn styles: a generator seeded with the map's seed draws one
    # index per instance whose class has clusters, in ascending id order, one call each.
    rng = np.random.default_rng(1000 + seed)
    clusters = {c: np.zeros((int(rng.integers(1, 12)), 3)) for c in range(5, 40, 2)}
    ids = sorted({int(i) for i in rng.integers(0, 40_000, size=int(rng.integers(0, 90)))})
    reference, draw = {}, np.random.default_rng(seed)
    for instance_id in ids:
        centres = clusters.get(instance_class(instance_id))
        if centres is not None:
            reference[instance_id] = int(draw.integers(len(centres)))
    assert draw_styles(reversed(ids), clusters, seed) == reference


def _reference_feature_map(instances, clusters, feat_num, style, seed):
    """Every pixel of an instance whose class has clusters: the centre draw_styles draws for
    it (or style's), element by element."""
    out = np.zeros((feat_num, *instances.shape), np.float32)
    ids = sorted({int(i) for i in np.unique(instances)})
    chosen = {**draw_styles(ids, clusters, seed), **style}
    for instance_id, index in chosen.items():
        centre = np.asarray(clusters[instance_class(instance_id)][index], np.float32)
        out[:, instances == instance_id] = centre[:, None]
    return out


@pytest.mark.parametrize("seed", range(6))
def test_cluster_features_are_the_drawn_centres(seed):
    rng = np.random.default_rng(seed)
    feat_num = 3
    clusters = {c: rng.standard_normal((int(rng.integers(1, 6)), feat_num)) for c in (7, 24, 26)}
    ids = np.array([0, 7, 11, 24, 7001, 24000, 24005, 26003, 33001, 2**31 - 1])
    maps = rng.choice(ids, size=(2, 9, 13)).astype(np.int64)
    present = sorted({int(i) for i in np.unique(maps[1])} & {7001, 24000, 24005, 26003, 7, 24})
    style = {present[0]: 0} if present else {}
    got = cluster_features(
        torch.from_numpy(maps), clusters, feat_num, style=style, seed=[seed, seed + 1]
    )
    for k, map_seed in enumerate((seed, seed + 1)):
        map_style = {i: c for i, c in style.items() if i in np.unique(maps[k])}
        expected = _reference_feature_map(maps[k], clusters, feat_num, map_style, map_seed)
        assert np.array_equal(got[k].numpy(), expected)
