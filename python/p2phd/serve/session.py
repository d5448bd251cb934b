# SPDX-License-Identifier: Apache-2.0
"""One editor session: the label and instance maps on the server, the style chosen for each
instance (a cluster index, or a feature vector a photo gave it), and a multi-level undo/redo
history of small patches."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from p2phd.ops import THING_ID_BASE, instance_class
from p2phd.runtime.features import cluster_features, draw_styles, instance_ids
from p2phd.serve import edits
from p2phd.serve.classes import LabelSet
from p2phd.serve.edits import Box
from p2phd.serve.errors import ClientError

# An instance's style: the index of a cluster centre of its class, or its own feature vector
# (from the encoder, for a photo the user uploaded).
Style = int | tuple[float, ...]


@dataclass(frozen=True)
class EditorModel:
    """What the editor needs to know of the model behind it."""

    label_nc: int
    use_instance: bool
    feat_num: int  # 0 for models without instance features
    clusters: Mapping[int, np.ndarray]  # class -> K x feat_num cluster centres
    labels: LabelSet

    def style_count(self, instance_id: int) -> int:
        centres = self.clusters.get(instance_class(instance_id))
        return 0 if centres is None else len(centres)

    def style_centres(self, instance_id: int) -> np.ndarray:
        """K x feat_num: the styles an instance can take; 422 when its class has none."""
        if self.style_count(instance_id) == 0:
            raise ClientError(422, f"instance {instance_id} has no styles to choose from")
        return self.clusters[instance_class(instance_id)]

    def check_style(self, instance_id: int, cluster: int) -> None:
        """422 unless `cluster` is one of the instance's styles."""
        count = len(self.style_centres(instance_id))
        if not 0 <= cluster < count:
            raise ClientError(422, f"style {cluster} is outside [0, {count})")


@dataclass
class Patch:
    """One undoable step: the maps inside `box` and the styles it touched, before and after."""

    box: Box
    before: tuple[np.ndarray, np.ndarray]
    after: tuple[np.ndarray, np.ndarray]
    style_before: dict[int, Style | None]
    style_after: dict[int, Style | None]

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (*self.before, *self.after)) + 64 * len(self.style_after)

    def side(self, after: bool) -> tuple[tuple[np.ndarray, np.ndarray], dict[int, Style | None]]:
        """The maps inside `box` and the styles, after the step or before it."""
        return (self.after, self.style_after) if after else (self.before, self.style_before)


@dataclass
class CachedRender:
    """A state's render (H x W x 3 uint8), and its PNG once a client asked for one."""

    image: np.ndarray
    png: bytes | None = None

    @property
    def nbytes(self) -> int:
        return self.image.nbytes + (len(self.png) if self.png is not None else 0)


@dataclass
class Session:
    id: str
    model: EditorModel
    labels: np.ndarray  # H x W uint8
    instances: np.ndarray  # H x W int32
    style: dict[int, Style]
    seed: int
    version: int = 0
    undo_stack: list[Patch] = field(default_factory=list)
    redo_stack: list[Patch] = field(default_factory=list)
    # The last few states rendered, by state_key(): undo and redo back to one of them answer
    # at once and with the very same image, whatever batch it was rendered in.
    renders: collections.OrderedDict[bytes, CachedRender] = field(
        default_factory=collections.OrderedDict
    )
    max_history: int = 200
    # Held by every request on this session, for the whole request: edits run on worker
    # threads, and nothing else may read the maps while one writes them.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    # Set by load(): draws the styles of new instances; the maps and styles as loaded.
    _rng: random.Random = field(init=False, repr=False)
    _original: tuple[np.ndarray, np.ndarray, dict[int, Style]] = field(init=False, repr=False)

    @classmethod
    def create(
        cls,
        session_id: str,
        model: EditorModel,
        labels: np.ndarray,
        instances: np.ndarray,
        seed: int,
        max_history: int,
    ) -> Session:
        session = cls(session_id, model, labels, instances, {}, seed, max_history=max_history)
        session.load(labels, instances, seed)
        return session

    # -- state ---------------------------------------------------------------------------
    def load(self, labels: np.ndarray, instances: np.ndarray, seed: int) -> None:
        """New maps: a fresh history, and every instance the cluster Runtime.render(...,
        seed=seed) draws for it, so that the server renders a map as the Python API does.
        Instances that edits add later draw from the session's own generator."""
        # Copies: edits write into these, never into the caller's arrays.
        self.labels = np.array(labels, np.uint8)
        self.instances = np.array(instances, np.int32)
        self.seed = seed
        self._rng = random.Random(seed)
        self.style = draw_styles(self._present_ids(), self.model.clusters, seed)
        self._original = (self.labels.copy(), self.instances.copy(), dict(self.style))
        self.undo_stack.clear()
        self.redo_stack.clear()
        self.version += 1

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape

    @property
    def nbytes(self) -> int:
        history = sum(p.nbytes for p in (*self.undo_stack, *self.redo_stack))
        renders = sum(render.nbytes for render in self.renders.values())
        return 2 * (self.labels.nbytes + self.instances.nbytes) + history + renders

    def state_key(self) -> bytes:
        """A digest of everything the render depends on: maps and styles."""
        digest = hashlib.blake2b(digest_size=16)
        digest.update(np.asarray(self.labels.shape, np.int64).tobytes())
        digest.update(self.labels.tobytes())
        digest.update(self.instances.tobytes())
        digest.update(repr(sorted(self.style.items())).encode())
        return digest.digest()

    def cached_render(self, key: bytes) -> CachedRender | None:
        """The render of the state `key` names, if it is still kept."""
        cached = self.renders.get(key)
        if cached is not None:
            self.renders.move_to_end(key)
        return cached

    def remember_render(self, key: bytes, image: np.ndarray, keep: int = 8) -> CachedRender:
        cached = self.renders[key] = CachedRender(image)
        self.renders.move_to_end(key)
        while len(self.renders) > keep:
            self.renders.popitem(last=False)
        return cached

    def shed_memory(self) -> bool:
        """Drops the oldest cached render but the newest, else the oldest undo step; False
        when there is nothing left to drop."""
        if len(self.renders) > 1:
            self.renders.popitem(last=False)
            return True
        if not self.undo_stack:
            return False
        self.undo_stack.pop(0)
        return True

    def feature_map(self) -> np.ndarray | None:
        """feat_num x H x W: each instance's chosen cluster centre or photo features (zeros
        for classes without clusters), or None for a model without instance features."""
        if not self.model.feat_num:
            return None
        # Every instance of a class with clusters has a style (load and edits choose one);
        # styles of instances no longer in the map stay for undo, but are not the map's.
        present = set(self._present_ids())
        style = {i: cluster for i, cluster in self.style.items() if i in present}
        clusters = {i: c for i, c in style.items() if isinstance(c, int)}
        # One thread: on the event loop's thread, a second OpenMP team would compete with the
        # render thread's for the cores.
        features = cluster_features(
            torch.from_numpy(self.instances)[None],
            self.model.clusters,
            self.model.feat_num,
            style=clusters,
            seed=self.seed,
            threads=1,
        )[0].numpy()
        for instance_id, vector in style.items():
            if not isinstance(vector, int):
                features[:, self.instances == instance_id] = np.asarray(vector, np.float32)[:, None]
        return features

    # -- edits ---------------------------------------------------------------------------
    def stroke(
        self, points: list[tuple[float, float]], radius: float, label: int, instance: int | None
    ) -> None:
        self._check_label(label)
        height, width = self.shape
        found = edits.stroke_mask(points, radius, height, width)
        if found is None:
            return
        box, mask = found
        if instance is not None:
            if instance_class(instance) != label:
                raise ClientError(
                    422, f"instance {instance} is of class {instance_class(instance)}, not {label}"
                )
            target = instance
        else:
            target = self._new_id(label)
        self._paint(box, mask, label, target)

    def fill(self, x: int, y: int, label: int) -> None:
        self._check_label(label)
        edits.check_point(x, y, *self.shape)
        region = edits.connected_region(self.labels == self.labels[y, x], y, x)
        box = edits.mask_box(region)
        self._paint(box, region[box.slices], label, self._new_id(label))

    def set_class(self, instance_id: int, label: int) -> None:
        self._check_label(label)
        mask, box = self.object_mask(instance_id)
        self._paint(box, mask[box.slices], label, self._new_id(label))

    def delete(self, instance_id: int) -> None:
        mask, box = self.object_mask(instance_id)
        label, instance = edits.surrounding_fill(self.labels, self.instances, mask)
        self._paint(box, mask[box.slices], label, instance)

    def move(self, instance_id: int, dx: int, dy: int, duplicate: bool) -> None:
        """Moves (or copies) an object by (dx, dy); it takes a new instance id and keeps its
        style. What a move uncovers takes the surroundings' class."""
        mask, box = self.object_mask(instance_id)
        target_mask = edits.shifted(mask, dx, dy)
        target_box = edits.mask_box(target_mask)
        if target_box is None:
            raise ClientError(422, f"moving instance {instance_id} by ({dx}, {dy}) leaves the map")
        label = int(self.labels[mask][0])
        new_id = self._new_id(label)
        whole = box.union(target_box)
        labels, instances = self.labels[whole.slices].copy(), self.instances[whole.slices].copy()
        if not duplicate:
            fill_label, fill_instance = edits.surrounding_fill(self.labels, self.instances, mask)
            labels[mask[whole.slices]] = fill_label
            instances[mask[whole.slices]] = fill_instance
        labels[target_mask[whole.slices]] = label
        instances[target_mask[whole.slices]] = new_id
        styles = {new_id: self.style[instance_id]} if instance_id in self.style else {}
        self._commit(whole, labels, instances, styles)

    def set_style(self, instance_id: int, cluster: int) -> None:
        self.object_mask(instance_id)
        self.model.check_style(instance_id, cluster)
        if self.style.get(instance_id) == cluster:
            return
        empty = Box(0, 0, 0, 0)
        self._commit(empty, self.labels[:0, :0], self.instances[:0, :0], {instance_id: cluster})

    def set_photo_style(self, instance_id: int, vector: np.ndarray) -> None:
        """The instance takes its own feature vector (feat_num values), as one undoable step."""
        self.object_mask(instance_id)
        if vector.shape != (self.model.feat_num,):
            raise ValueError(f"a style vector has {self.model.feat_num} values, got {vector.shape}")
        style = tuple(float(v) for v in vector)
        empty = Box(0, 0, 0, 0)
        self._commit(empty, self.labels[:0, :0], self.instances[:0, :0], {instance_id: style})

    def reset(self) -> None:
        """Back to the maps as loaded, as one undoable step."""
        labels, instances, style = self._original
        height, width = self.shape
        changed = {k: v for k, v in style.items() if self.style.get(k) != v}
        removed = {k: None for k in self.style if k not in style}
        self._commit(Box(0, height, 0, width), labels, instances, {**changed, **removed})

    def undo(self) -> None:
        self._step(forward=False)

    def redo(self) -> None:
        self._step(forward=True)

    # -- helpers -------------------------------------------------------------------------
    def object_mask(self, instance_id: int) -> tuple[np.ndarray, Box]:
        """The object's pixels and their box; 404 when it is not in the map."""
        mask = self.instances == instance_id
        box = edits.mask_box(mask)
        if box is None:
            raise ClientError(404, f"instance {instance_id} is not in the map")
        return mask, box

    def _check_label(self, label: int) -> None:
        if not 0 <= label < self.model.label_nc:
            raise ClientError(422, f"label {label} is outside [0, {self.model.label_nc})")

    def _present_ids(self) -> list[int]:
        """The ids of the session's instance map, ascending, read from its runs (a tenth of
        sorting every pixel, at every edit's feature map)."""
        return instance_ids(torch.from_numpy(self.instances))

    def _new_id(self, label: int) -> int:
        """A fresh instance id for a thing class (label * 1000 + k), the label for stuff."""
        if not self.model.labels.is_thing(label):
            return label
        used = [
            i % THING_ID_BASE
            for i in (*self._present_ids(), *self.style)
            if i >= THING_ID_BASE and instance_class(i) == label
        ]
        k = max(used, default=-1) + 1
        if k >= THING_ID_BASE:
            raise ClientError(409, f"class {label} already has {THING_ID_BASE} instances")
        return label * THING_ID_BASE + k

    def _new_styles(self, ids: np.ndarray | list[int]) -> dict[int, int]:
        styles = {}
        for instance_id in (int(i) for i in ids):
            count = self.model.style_count(instance_id)
            if count and instance_id not in self.style:
                styles[instance_id] = self._rng.randrange(count)
        return styles

    def _paint(self, box: Box, mask: np.ndarray, label: int, instance: int) -> None:
        labels = self.labels[box.slices].copy()
        instances = self.instances[box.slices].copy()
        labels[mask] = label
        instances[mask] = instance
        self._commit(box, labels, instances, {})

    def _commit(
        self, box: Box, labels: np.ndarray, instances: np.ndarray, styles: dict[int, Style | None]
    ) -> None:
        rows, cols = box.slices
        unchanged = np.array_equal(labels, self.labels[rows, cols]) and np.array_equal(
            instances, self.instances[rows, cols]
        )
        styles = {**self._new_styles(np.unique(instances)), **styles}
        styles = {k: v for k, v in styles.items() if self.style.get(k) != v}
        if unchanged and not styles:
            return
        before = (self.labels[rows, cols].copy(), self.instances[rows, cols].copy())
        patch = Patch(
            box, before, (labels, instances), {k: self.style.get(k) for k in styles}, styles
        )
        self._apply(box, patch.after, styles)
        self.undo_stack.append(patch)
        self.redo_stack.clear()
        if len(self.undo_stack) > self.max_history:
            self.undo_stack.pop(0)

    def _step(self, forward: bool) -> None:
        """Redoes (forward) or undoes the newest step of its stack, which then moves onto the
        other one; 409 when there is none."""
        source, target = (
            (self.redo_stack, self.undo_stack) if forward else (self.undo_stack, self.redo_stack)
        )
        if not source:
            raise ClientError(409, f"nothing to {'redo' if forward else 'undo'}")
        patch = source.pop()
        self._apply(patch.box, *patch.side(after=forward))
        target.append(patch)

    def _apply(
        self, box: Box, maps: tuple[np.ndarray, np.ndarray], styles: Mapping[int, Style | None]
    ) -> None:
        rows, cols = box.slices
        self.labels[rows, cols], self.instances[rows, cols] = maps
        for instance_id, cluster in styles.items():
            if cluster is None:
                self.style.pop(instance_id, None)
            else:
                self.style[instance_id] = cluster
        self.version += 1
