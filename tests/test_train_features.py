# SPDX-License-Identifier: Apache-2.0
"""Feature encoding and k-means: the public encode_features.py semantics."""

from __future__ import annotations

import numpy as np
import torch

from p2phd import checkpoint
from p2phd.models import Encoder
from p2phd.train import cluster_features, encode_instances, kmeans


def test_kmeans_finds_separated_clusters():
    rng = np.random.default_rng(0)
    truth = np.array([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]])
    points = np.concatenate([c + 0.1 * rng.standard_normal((30, 2)) for c in truth])
    centres = kmeans(points, 3, seed=0)
    assert centres.shape == (3, 2)
    for c in truth:
        assert np.min(np.linalg.norm(centres - c, axis=1)) < 0.1
    assert np.array_equal(kmeans(points, 3, seed=0), centres)  # deterministic


def test_kmeans_caps_k_at_the_distinct_points():
    points = np.array([[1.0, 2.0], [1.0, 2.0], [3.0, 4.0]])
    assert kmeans(points, 10).shape == (2, 2)


def test_cluster_features_drops_small_instances_and_writes_a_loadable_file(tmp_path):
    rows = {
        7: np.array([[0.1, 0.2, 0.3, 2.0], [0.1, 0.2, 0.4, 0.4]]),  # second one too small
        26: np.array([[1.0, 1.0, 1.0, 0.6]] * 3 + [[-1.0, 0.0, 0.0, 0.9]] * 20),
        33: np.array([[0.0, 0.0, 0.0, 0.1]]),  # all too small: no entry
    }
    centres = cluster_features(rows, n_clusters=10)
    assert sorted(centres) == [7, 26]
    assert centres[7].shape == (1, 3) and np.allclose(centres[7], [[0.1, 0.2, 0.3]])
    assert centres[26].shape == (2, 3) and centres[26].dtype == np.float32
    path = checkpoint.save_clusters(tmp_path / "features_clustered_010.npy", centres)
    loaded = checkpoint.load_clusters(path, feat_num=3)
    assert sorted(loaded) == [7, 26] and np.array_equal(loaded[26], centres[26])


def test_encode_instances_takes_the_instance_mean_and_relative_area():
    torch.manual_seed(0)
    encoder = Encoder(3, 3, 4, 1).eval()
    image = torch.rand(1, 3, 16, 32) * 2 - 1
    instances = torch.full((1, 16, 32), 7, dtype=torch.int32)
    instances[0, :8, :8] = 26001  # 64 pixels of a car: 64 / (512 / 32) = 4.0 blocks
    rows = encode_instances(encoder, image, instances)
    assert sorted(rows) == [7, 26]
    assert rows[26].shape == (1, 4) and rows[26][0, 3] == 64 / (16 * 32 // 32)
    features = encoder(image, instances)
    assert np.allclose(rows[26][0, :3], features[0, :, 0, 0].detach().numpy(), atol=1e-6)
