# SPDX-License-Identifier: Apache-2.0
"""Instance features after training: encode every training instance, k-means per class.

This is the public `encode_features.py`: for each instance of each image the encoder's
feature at the instance's middle pixel (in raster order) is taken together with the
instance's area relative to 1/32 of the image; instances with a relative area of at most 0.5
(smaller than 1/64 of the image) are dropped, and the rest of each class is clustered into
min(n_clusters, count) centres. The result is the `features_clustered_NNN.npy` dict
{label: K x feat_num}.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch

from p2phd.models import Encoder
from p2phd.ops import instance_class

from .dataset import PairedDataset, Preprocess, Sample

BLOCK_NUM = 32  # public constant: area is measured in units of H * W / 32


@torch.no_grad()
def encode_instances(
    encoder: Encoder, image: torch.Tensor, instances: torch.Tensor
) -> dict[int, np.ndarray]:
    """{label: M x (feat_num + 1)} rows (features, relative area) for one 1 x 3 x H x W image."""
    feature_map = encoder(image, instances).float()
    inst = instances[0].reshape(-1)
    h, w = instances.shape[-2:]
    features = feature_map[0].reshape(feature_map.shape[1], -1)
    rows: dict[int, list[np.ndarray]] = {}
    for i in torch.unique(inst).tolist():
        where = torch.nonzero(inst == i).reshape(-1)
        num = where.numel()
        middle = int(where[num // 2])
        row = np.empty(features.shape[0] + 1, np.float64)
        row[:-1] = features[:, middle].cpu().double().numpy()
        row[-1] = num / (h * w // BLOCK_NUM)
        rows.setdefault(instance_class(int(i)), []).append(row)
    return {label: np.stack(r) for label, r in rows.items()}


def kmeans(
    points: np.ndarray, k: int, *, seed: int = 0, n_init: int = 10, max_iter: int = 300
) -> np.ndarray:
    """k-means++ seeding + Lloyd iterations, best of n_init by inertia; returns k x D centres.

    k is capped at the number of distinct points, so no centre is empty or duplicated.
    """
    points = np.asarray(points, np.float64)
    if points.ndim != 2 or len(points) == 0:
        raise ValueError(f"kmeans needs an N x D array with N >= 1, got shape {points.shape}")
    distinct = np.unique(points, axis=0)
    k = min(k, len(distinct))
    if k == len(distinct):
        return distinct
    rng = np.random.default_rng(seed)
    best, best_inertia = None, np.inf
    for _ in range(n_init):
        centres = [points[rng.integers(len(points))]]
        d2 = ((points - centres[0]) ** 2).sum(1)
        for _ in range(1, k):
            total = d2.sum()
            if total <= 0:
                break
            choice = rng.choice(len(points), p=d2 / total)
            centres.append(points[choice])
            d2 = np.minimum(d2, ((points - points[choice]) ** 2).sum(1))
        c = np.stack(centres)
        for _ in range(max_iter):
            dist = ((points[:, None, :] - c[None]) ** 2).sum(-1)
            assign = dist.argmin(1)
            new = np.stack(
                [
                    points[assign == j].mean(0) if np.any(assign == j) else c[j]
                    for j in range(len(c))
                ]
            )
            if np.allclose(new, c, rtol=0, atol=1e-10):
                c = new
                break
            c = new
        inertia = ((points[:, None, :] - c[None]) ** 2).sum(-1).min(1).sum()
        if inertia < best_inertia:
            best, best_inertia = c, inertia
    assert best is not None
    return best


def cluster_features(
    rows: Mapping[int, np.ndarray], n_clusters: int = 10, *, min_area: float = 0.5, seed: int = 0
) -> dict[int, np.ndarray]:
    """{label: M x (feat_num + 1)} -> {label: K x feat_num} float32 cluster centres."""
    centres = {}
    for label in sorted(rows):
        feat = np.asarray(rows[label])
        feat = feat[feat[:, -1] > min_area, :-1]
        if len(feat):
            centres[int(label)] = kmeans(feat, n_clusters, seed=seed).astype(np.float32)
    return centres


def merge_rows(parts: Iterable[Mapping[int, np.ndarray]]) -> dict[int, np.ndarray]:
    merged: dict[int, list[np.ndarray]] = {}
    for part in parts:
        for label, rows in part.items():
            merged.setdefault(label, []).append(rows)
    return {label: np.concatenate(r) for label, r in merged.items()}


@torch.no_grad()
def cluster_training_set(
    encoder: Encoder,
    samples: Sequence[Sample],
    preprocess: Preprocess,
    device: torch.device,
    *,
    n_clusters: int,
    seed: int,
) -> dict[int, np.ndarray]:
    """Encode every instance of the training images (not augmented), k-means per class:
    {label: K x feat_num}. The encoder is in eval mode meanwhile."""
    dataset = PairedDataset(samples, preprocess, seed=seed, augment=False)
    encoder.eval()
    rows = []
    for index in range(len(dataset)):
        item = dataset[index]
        image = item["image"][None].to(device)
        instances = item["inst"][None].to(device)
        rows.append(encode_instances(encoder, image, instances))
    encoder.train()
    return cluster_features(merge_rows(rows), n_clusters, seed=seed)
