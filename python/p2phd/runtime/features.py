# SPDX-License-Identifier: Apache-2.0
"""Instance feature maps for feature models: cluster centres chosen per instance (the
paper's interactive editing, Sec. 3.3), or an encoding of a real photo."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from p2phd import ops

Clusters = Mapping[int, np.ndarray]

# The seed of the cluster choice when the caller gives none: the same call, the same image.
DEFAULT_SEED = 0


def check_seed(seed: object) -> int:
    """`seed` as an int >= 0 (DEFAULT_SEED for None), or a ValueError naming it."""
    if seed is None:
        return DEFAULT_SEED
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    return int(seed)


def instance_class(instance_id: int) -> int:
    """The public convention: ids below 1000 are the class itself, others class * 1000 + k."""
    return instance_id if instance_id < 1000 else instance_id // 1000


def cluster_features(
    instances: torch.Tensor,
    clusters: Clusters,
    feat_num: int,
    *,
    style: Mapping[int, int] | None = None,
    seed: int = DEFAULT_SEED,
) -> torch.Tensor:
    """N x H x W instance map -> N x feat_num x H x W float32 feature map on its device.

    Every instance whose class has clusters gets one of its class's centres: `style[id]` when
    given, else one drawn by a generator seeded with `seed` (the same seed, the same choice).
    Instances of classes without clusters get zeros, as in the public code."""
    style = dict(style or {})
    rng = np.random.default_rng(seed)
    present = [image.unique().tolist() for image in instances]
    known = {instance_id for ids in present for instance_id in ids}
    for instance_id, choice in style.items():
        for what, value in (("instance id", instance_id), ("cluster index", choice)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"style maps instance ids to cluster indices; {what} {value!r}")
        if instance_id not in known:
            raise ValueError(
                f"style names instance {instance_id}, which is not in the instance map"
            )
        centres = clusters.get(instance_class(instance_id))
        if centres is None:
            raise ValueError(
                f"style names instance {instance_id}, whose class "
                f"{instance_class(instance_id)} has no clusters"
            )
        if not 0 <= choice < len(centres):
            raise ValueError(
                f"style for instance {instance_id}: cluster {choice} is outside [0, {len(centres)})"
            )
    maps = []
    for image, ids in zip(instances, present, strict=True):
        chosen_ids, rows = [], []
        for instance_id in ids:
            centres = clusters.get(instance_class(instance_id))
            if centres is None:
                continue
            choice = style.get(instance_id, int(rng.integers(len(centres))))
            chosen_ids.append(instance_id)
            rows.append(np.asarray(centres[choice], dtype=np.float32))
        table = np.stack(rows) if rows else np.zeros((0, feat_num), np.float32)
        maps.append(
            ops.instance_broadcast(
                image,
                torch.tensor(chosen_ids, dtype=torch.int64, device=image.device),
                torch.from_numpy(table).to(image.device),
            )
        )
    return torch.stack(maps)


def check_features(features: torch.Tensor, shape: tuple[int, int, int], feat_num: int) -> None:
    """An explicit N x feat_num x H x W feature map must fit the maps and be finite."""
    n, h, w = shape
    if tuple(features.shape) != (n, feat_num, h, w):
        raise ValueError(
            f"features must be {n} x {feat_num} x {h} x {w} for these maps, "
            f"got {tuple(features.shape)}"
        )
    if not torch.isfinite(features).all():
        raise ValueError("features contain NaN or infinity")
