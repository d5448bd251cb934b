# SPDX-License-Identifier: Apache-2.0
"""Instance feature maps for feature models: cluster centres chosen per instance (the
paper's interactive editing, Sec. 3.3), or an encoding of a real photo."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Sized

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


def check_seeds(seed: object, count: int) -> list[int]:
    """The seed of each of `count` maps: one int (or None: DEFAULT_SEED) that every map uses
    on its own, or a sequence with one seed per map; a ValueError naming what is wrong."""
    if isinstance(seed, Sequence | np.ndarray) and not isinstance(seed, str | bytes):
        if len(seed) != count:
            raise ValueError(f"seed has {len(seed)} seeds for {count} maps: give one per map")
        return [check_seed(value) for value in seed]
    return [check_seed(seed)] * count


def class_counts(clusters: Mapping[int, Sized]) -> np.ndarray:
    """The number of cluster centres of each class, indexed by class (0: no clusters)."""
    classes = [int(c) for c in clusters]
    if any(c < 0 for c in classes):
        raise ValueError(f"cluster classes must be >= 0, got {min(classes)}")
    counts = np.zeros(max(classes, default=-1) + 1, np.int64)
    for c, centres in clusters.items():
        counts[int(c)] = len(centres)
    return counts


def draw_indices(
    ids: np.ndarray, counts: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, their classes, the drawn cluster indices) of the ascending `ids` of one map whose
    class has clusters (`counts`: class_counts): a generator seeded with `seed` draws one index
    per such instance, in turn. One call with an array of bounds draws, element by element,
    the numbers that one call per instance would (tests/test_runtime_features.py holds numpy
    to it)."""
    classes = ops.instance_class(ids)
    per_id = np.zeros(len(ids), np.int64)
    known = (classes >= 0) & (classes < len(counts))
    per_id[known] = counts[classes[known]]
    drawn = per_id > 0
    if not drawn.any():
        return ids[drawn], classes[drawn], np.zeros(0, np.int64)
    return ids[drawn], classes[drawn], np.random.default_rng(seed).integers(0, per_id[drawn])


def draw_styles(
    instance_ids: Iterable[int], clusters: Mapping[int, Sized], seed: int
) -> dict[int, int]:
    """The cluster drawn for each instance of one map whose class has clusters: a generator
    seeded with `seed` draws one index per such instance, in ascending id order. The map's
    draw depends on its ids and its seed only, never on other maps rendered with it."""
    ids = np.array(sorted({int(i) for i in instance_ids}), dtype=np.int64)
    drawn, _, choices = draw_indices(ids, class_counts(clusters), seed)
    return dict(zip(drawn.tolist(), choices.tolist(), strict=True))


class CentreTable:
    """The cluster centres of every class in one float32 array, class after class, with each
    class's count and first row: a map's styles are drawn and gathered with a few numpy calls,
    not a few per instance (what a render on a CPU spends most of its preparation on)."""

    def __init__(self, clusters: Clusters, feat_num: int) -> None:
        self.clusters = clusters
        self.counts = class_counts(clusters)
        if (self.counts[[int(c) for c in clusters]] == 0).any():
            raise ValueError("every class of the clusters needs at least one centre")
        # Each class's rows follow those of the classes below it.
        self.firsts = np.cumsum(self.counts) - self.counts
        rows = [np.zeros((0, feat_num), np.float32)]
        rows += [
            np.asarray(clusters[c], dtype=np.float32).reshape(-1, feat_num)
            for c in sorted(clusters, key=int)
        ]
        self.centres = np.concatenate(rows)


def instance_ids(image: torch.Tensor) -> list[int]:
    """The distinct ids of one H x W instance map, ascending. On the CPU they are read from
    the first pixel of each run of equal ids (every id starts a run, and instance maps are
    long runs of few ids), a tenth of the time of sorting every pixel as unique() does."""
    if image.device.type != "cpu":
        return image.unique().tolist()
    flat = image.reshape(-1).numpy()
    if flat.size == 0:
        return []
    starts = np.empty(flat.size, dtype=bool)
    starts[0] = True
    np.not_equal(flat[1:], flat[:-1], out=starts[1:])
    return np.unique(flat.take(np.flatnonzero(starts))).tolist()


def cluster_features(
    instances: torch.Tensor,
    clusters: Clusters | CentreTable,
    feat_num: int,
    *,
    style: Mapping[int, int] | None = None,
    seed: int | Sequence[int] = DEFAULT_SEED,
    threads: int | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """N x H x W instance map -> N x feat_num x H x W float32 feature map on its device
    (written into `out`, a contiguous tensor of that shape, where given).

    Every instance whose class has clusters gets one of its class's centres: `style[id]` when
    given, else the one draw_styles draws for its map with that map's seed (`seed`: one for
    every map, or one per map). Instances of classes without clusters get zeros, as in the
    public code. `clusters` may be a CentreTable of them, built once for many calls.
    `threads` is instance_broadcast's (CPU maps only)."""
    table = clusters if isinstance(clusters, CentreTable) else CentreTable(clusters, feat_num)
    style = dict(style or {})
    seeds = check_seeds(seed, len(instances))
    present = [np.array(instance_ids(image), dtype=np.int64) for image in instances]
    _check_style(style, present, table.clusters)
    n, h, w = instances.shape
    if out is None:
        out = torch.empty(n, feat_num, h, w, dtype=torch.float32, device=instances.device)
    for image, ids, map_seed, map_out in zip(instances, present, seeds, out, strict=True):
        ids, classes, choices = draw_indices(ids, table.counts, map_seed)
        for instance_id, choice in style.items():
            position = int(np.searchsorted(ids, instance_id))
            if position < len(ids) and ids[position] == instance_id:
                choices[position] = choice
        ops.instance_broadcast(
            image,
            torch.from_numpy(ids).to(image.device),
            torch.from_numpy(table.centres[table.firsts[classes] + choices]).to(image.device),
            out=map_out,
            threads=threads,
        )
    return out


def _check_style(style: Mapping[int, int], present: list[np.ndarray], clusters: Clusters) -> None:
    """ValueError unless every entry of `style` names an instance of the maps, of a class with
    clusters, and one of its class's centres."""
    known = {int(instance_id) for ids in present for instance_id in ids} if style else set()
    for instance_id, choice in style.items():
        for what, value in (("instance id", instance_id), ("cluster index", choice)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"style maps instance ids to cluster indices; {what} {value!r}")
        if instance_id not in known:
            raise ValueError(
                f"style names instance {instance_id}, which is not in the instance map"
            )
        centres = clusters.get(ops.instance_class(instance_id))
        if centres is None:
            raise ValueError(
                f"style names instance {instance_id}, whose class "
                f"{ops.instance_class(instance_id)} has no clusters"
            )
        if not 0 <= choice < len(centres):
            raise ValueError(
                f"style for instance {instance_id}: cluster {choice} is outside [0, {len(centres)})"
            )


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
