# SPDX-License-Identifier: Apache-2.0
"""The server's shared state: the Runtime, the session store and the render queue, and the
renders built from them (a session's map, its style strip, a stateless upload)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import NamedTuple

import numpy as np

from p2phd import ops
from p2phd.data.synthetic import synthetic_scene
from p2phd.runtime import Runtime
from p2phd.serve.classes import LabelSet
from p2phd.serve.edits import Box
from p2phd.serve.errors import ClientError
from p2phd.serve.pngio import encode_png
from p2phd.serve.render_queue import Rendered, RenderQueue
from p2phd.serve.session import CachedRender, EditorModel, Session
from p2phd.serve.settings import Settings
from p2phd.serve.store import SessionStore

log = logging.getLogger("p2phd.serve")


class Frame(NamedTuple):
    """The render, then the label colours, each H x W x 4 RGBA bytes row by row; the session
    version they show; the milliseconds the request took and its Runtime call's share
    (0 and 0 for a state rendered before)."""

    pixels: bytes
    height: int
    width: int
    version: int
    total_ms: float
    runtime_ms: float


def editor_model(runtime: Runtime) -> EditorModel:
    config = runtime.config
    if config.label_nc > 256:
        raise ValueError(f"the editor keeps 8-bit label maps; this model has {config.label_nc}")
    clusters = runtime.clusters if config.instance_feat and runtime.clusters else {}
    return EditorModel(
        label_nc=config.label_nc,
        use_instance=config.use_instance,
        feat_num=config.feat_num if config.instance_feat else 0,
        clusters={int(k): np.asarray(v, np.float32) for k, v in clusters.items()},
        labels=LabelSet(config.label_nc),
    )


def warm_up_maps(size: tuple[int, int], label_nc: int) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic scene of `size`, its labels folded into [0, label_nc) for a model with fewer
    classes than Cityscapes' (all stuff then: each pixel's instance is its label)."""
    scene = synthetic_scene(0, *size)
    if int(scene.labels.max()) < label_nc:
        return scene.labels, scene.instances
    labels = scene.labels % label_nc
    return labels, labels.astype(np.int32)


class Editor:
    def __init__(self, settings: Settings, runtime: Runtime) -> None:
        self.settings = settings
        self.runtime = runtime
        self.model = editor_model(runtime)
        self.store = SessionStore(
            self.model, settings.max_sessions, settings.max_memory_bytes, settings.max_history
        )
        self.queue = RenderQueue(
            self._render_batch,
            settings.max_batch,
            settings.max_wait_ms,
            settings.max_queue,
            settings.render_timeout_s,
        )
        self.ready = asyncio.Event()
        self.warm_up_error: str | None = None  # why the warm-up render failed, if it did

    def _render_batch(
        self, labels: np.ndarray, instances: np.ndarray | None, features: np.ndarray | None
    ) -> np.ndarray:
        return self.runtime.render(labels, instances, features=features)

    async def warm_up(self) -> None:
        """One render at the scene size, so the first user does not pay for allocation. A
        failure is logged and kept for /health, which then says why it answers 503."""
        try:
            labels, instances = await asyncio.to_thread(
                warm_up_maps, self.settings.scene_size, self.model.label_nc
            )
            session = Session.create("warm-up", self.model, labels, instances, 0, 1)
            await self.render_maps(session)
        except Exception as error:  # noqa: BLE001 - reported, and the server stays up to say so
            self.warm_up_error = f"the warm-up render failed: {type(error).__name__}: {error}"
            log.error("%s", self.warm_up_error, exc_info=error)
            return
        self.ready.set()

    def scene(self, seed: int, height: int | None, width: int | None) -> tuple[np.ndarray, ...]:
        height = height or self.settings.scene_size[0]
        width = width or self.settings.scene_size[1]
        if not (16 <= height <= self.settings.max_side and 16 <= width <= self.settings.max_side):
            raise ClientError(
                422, f"a scene must be between 16 and {self.settings.max_side} pixels a side"
            )
        scene = synthetic_scene(seed, height, width)
        labels = scene.labels
        if labels.size and int(labels.max()) >= self.model.label_nc:
            raise ClientError(
                409,
                f"synthetic scenes use Cityscapes labels; this model has "
                f"{self.model.label_nc} classes",
            )
        return labels, scene.instances

    async def render_maps(self, session: Session, features: np.ndarray | None = None) -> Rendered:
        """N x H x W x 3 renders of a session's maps: N = 1, or one per row of `features`."""
        inputs = await asyncio.to_thread(self._render_inputs, session, features)
        return await self.queue.render(*inputs)

    def _render_inputs(
        self, session: Session, features: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The Runtime's inputs: copies of the maps, and the feature map where it has one."""
        count = 1 if features is None else len(features)
        labels = np.repeat(session.labels[None], count, axis=0)
        instances = (
            np.repeat(session.instances[None], count, axis=0) if self.model.use_instance else None
        )
        if features is None and self.model.feat_num:
            features = session.feature_map()[None]
        return labels, instances, features

    async def render_image(self, session: Session) -> tuple[CachedRender, float, float]:
        """The session's render, the milliseconds this call took, and those of the Runtime
        call within them (0 and 0 for a state rendered before)."""
        key = await asyncio.to_thread(session.state_key)
        cached = session.cached_render(key)
        if cached is not None:
            return cached, 0.0, 0.0
        start = time.perf_counter()
        rendered = await self.render_maps(session)
        cached = session.remember_render(key, rendered.images[0])
        self.store.enforce_limits(keep=session.id)
        return cached, (time.perf_counter() - start) * 1000, rendered.runtime_ms

    async def render_png(self, session: Session) -> tuple[bytes, float, float]:
        """The session's render as PNG, the milliseconds from the request to the PNG, and
        those of the Runtime call within them (0 and 0 for a PNG made before)."""
        start = time.perf_counter()
        cached, _, runtime_ms = await self.render_image(session)
        if cached.png is not None:
            return cached.png, 0.0, 0.0
        png = await asyncio.to_thread(encode_png, cached.image, self.settings.png_compress_level)
        cached.png = png
        self.store.enforce_limits(keep=session.id)
        return png, (time.perf_counter() - start) * 1000, runtime_ms

    async def frame(self, session: Session) -> Frame:
        """What the page draws after an edit: the render and the label colours of one state,
        as raw RGBA with nothing to encode or decode."""
        start = time.perf_counter()
        version = session.version  # the request holds the session's lock: it stays
        colors = await asyncio.to_thread(self.colors, session)
        cached, _, runtime_ms = await self.render_image(session)
        height, width = colors.shape[:2]
        pixels = await asyncio.to_thread(_rgba_pair, cached.image, colors)
        total_ms = (time.perf_counter() - start) * 1000 if runtime_ms else 0.0
        return Frame(pixels, height, width, version, total_ms, runtime_ms)

    async def style_strip(
        self, session: Session, instance_id: int, cluster: int | None = None
    ) -> tuple[bytes, int, Box]:
        """The object's surroundings as they look with each style of its class, side by side
        and rendered in one Runtime call; or with style `cluster` alone (one map: the page
        asks style by style, to show each as it comes). PNG, the class's style count, and
        the tile's box."""
        mask, box = session.object_mask(instance_id)
        centres = self.model.style_centres(instance_id)
        count = len(centres)
        if cluster is not None:
            self.model.check_style(instance_id, cluster)
            centres = centres[cluster : cluster + 1]
        features = await asyncio.to_thread(_styled_features, session, mask, centres)
        images = (await self.render_maps(session, features)).images
        crop = _grow(box, *session.shape)
        tiles = np.concatenate([image[crop.slices] for image in images], axis=1)
        png = await asyncio.to_thread(encode_png, tiles, self.settings.png_compress_level)
        return png, count, crop

    @property
    def photo_styles(self) -> bool:
        """Whether a photo can give an object its style: a feature model with an encoder."""
        return bool(self.model.feat_num) and self.runtime.encoder is not None

    async def photo_style(self, session: Session, instance_id: int, photo: np.ndarray) -> None:
        """The object takes the feature vector the encoder gives it in `photo`, the one
        Runtime.render(..., features_from=photo) renders its pixels with. For a model whose
        photo_styles is True (the route checks it)."""
        mask, _ = session.object_mask(instance_id)
        if photo.shape[:2] != session.shape:
            raise ClientError(
                422,
                f"the photo is {photo.shape[0]} x {photo.shape[1]}; the map is "
                f"{session.shape[0]} x {session.shape[1]}",
            )
        features = await asyncio.to_thread(self.runtime.encode_features, photo, session.instances)
        # The encoder pools per instance: every pixel of the object holds the same vector.
        first = np.argwhere(mask)[0]
        vector = features[0, :, first[0], first[1]].numpy()
        await asyncio.to_thread(session.set_photo_style, instance_id, vector)

    def colors(self, session: Session) -> np.ndarray:
        """The label map in the model's colours, instance boundaries darkened."""
        image = self.model.labels.colorize(session.labels)
        # One thread: a second OpenMP team would compete with the render's for the cores.
        edges = ops.instance_edges(session.instances, threads=1)[0] > 0
        image[edges] = image[edges] // 2
        return image


def _rgba_pair(image: np.ndarray, colors: np.ndarray) -> bytes:
    """Two H x W x 3 images as 2 x H x W x 4 RGBA bytes, opaque."""
    pixels = np.full((2, *colors.shape[:2], 4), 255, np.uint8)
    pixels[0, ..., :3] = image
    pixels[1, ..., :3] = colors
    return pixels.tobytes()


def _styled_features(session: Session, mask: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """One feature map per cluster centre: the session's, with the object's pixels set to it."""
    features = np.repeat(session.feature_map()[None], len(centres), axis=0)
    for index, centre in enumerate(centres):
        features[index][:, mask] = centre[:, None]
    return features


def _grow(box: Box, height: int, width: int) -> Box:
    """The box with a quarter of its size (at least 8 pixels) of context on every side."""
    pad_y = max(8, (box.bottom - box.top) // 4)
    pad_x = max(8, (box.right - box.left) // 4)
    return Box(
        max(0, box.top - pad_y),
        min(height, box.bottom + pad_y),
        max(0, box.left - pad_x),
        min(width, box.right + pad_x),
    )
