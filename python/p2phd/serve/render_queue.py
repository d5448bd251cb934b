# SPDX-License-Identifier: Apache-2.0
"""One queue for the renders of every session: concurrent jobs of equal size are joined into
one Runtime call (up to `max_batch` maps, the first waiting at most `max_wait_ms`), and one
worker task runs each call on the queue's own thread, so the event loop keeps answering and
torch keeps one team of CPU threads (each calling thread starts its own).

The queue is bounded: with `max_queue` renders waiting or under way, another is refused at
once (503, Retry-After), and a render not done `timeout_s` after it was asked for is given
up (504); the worker skips the jobs given up."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from p2phd.serve.errors import ClientError

log = logging.getLogger("p2phd.serve")

# labels N x H x W, instances N x H x W or None, features N x F x H x W or None -> N x H x W x 3
RenderFn = Callable[[np.ndarray, np.ndarray | None, np.ndarray | None], np.ndarray]


class Rendered(NamedTuple):
    images: np.ndarray  # N x H x W x 3 uint8
    runtime_ms: float  # the Runtime call that rendered them (shared by its whole batch)


@dataclass
class RenderJob:
    labels: np.ndarray  # N x H x W uint8
    instances: np.ndarray | None  # N x H x W int32
    features: np.ndarray | None  # N x F x H x W float32
    future: asyncio.Future = field(repr=False)

    @property
    def key(self) -> tuple:
        """Jobs with equal keys can share a Runtime call."""
        _, height, width = self.labels.shape
        return (height, width, self.instances is None, self.features is None)

    @property
    def count(self) -> int:
        return self.labels.shape[0]


@dataclass
class BatchStats:
    calls: int = 0
    maps: int = 0
    last_call_ms: float = 0.0


class RenderQueue:
    def __init__(
        self,
        render: RenderFn,
        max_batch: int,
        max_wait_ms: float,
        max_queue: int = 64,
        timeout_s: float = 60.0,
    ) -> None:
        self._render = render
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self.pending = 0  # renders asked for and not yet answered or given up
        self.stats = BatchStats()
        self._queue: asyncio.Queue[RenderJob] = asyncio.Queue()
        self._held: collections.deque[RenderJob] = collections.deque()  # other sizes, in order
        self._worker: asyncio.Task | None = None
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None

    def start(self) -> None:
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="p2phd-render")
        self._worker = asyncio.create_task(self._run(), name="p2phd-render-worker")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None
        if self._thread is not None:
            self._thread.shutdown(wait=False, cancel_futures=True)  # a render under way ends
            self._thread = None

    async def render(
        self,
        labels: np.ndarray,
        instances: np.ndarray | None = None,
        features: np.ndarray | None = None,
    ) -> Rendered:
        """N x H x W maps -> N x H x W x 3 uint8, rendered with whatever else is waiting."""
        if self._worker is None or self._worker.done():
            raise RuntimeError("the render worker is not running")
        if self.pending >= self.max_queue:
            raise ClientError(
                503,
                f"the server is busy: {self.pending} renders are waiting; try again shortly",
                headers={"Retry-After": "1"},
            )
        future = asyncio.get_running_loop().create_future()
        self.pending += 1
        future.add_done_callback(self._answered)
        self._queue.put_nowait(RenderJob(labels, instances, features, future))
        try:
            # On the deadline (or when the request itself is cancelled) the future is
            # cancelled: the worker then skips the job, or drops its image.
            return await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:
            raise ClientError(
                504, f"the render did not finish within {self.timeout_s:g} s; the server is busy"
            ) from None

    def _answered(self, future: asyncio.Future) -> None:
        self.pending -= 1

    async def _next_batch(self) -> list[RenderJob]:
        first = self._held.popleft() if self._held else await self._queue.get()
        batch, total = [first], first.count
        # Held jobs of the same size join first, then the queue until full or the deadline.
        for job in list(self._held):
            if job.key == first.key and total + job.count <= self.max_batch:
                self._held.remove(job)
                batch.append(job)
                total += job.count
        deadline = time.monotonic() + self.max_wait
        while total < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    job = self._queue.get_nowait()
                else:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
            except (asyncio.QueueEmpty, asyncio.TimeoutError):
                break
            if job.key == first.key and total + job.count <= self.max_batch:
                batch.append(job)
                total += job.count
            else:
                self._held.append(job)
        return batch

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            live = [job for job in batch if not job.future.done()]  # skip abandoned requests
            if live:
                await self._render_batch(live)

    async def _render_batch(self, batch: list[RenderJob]) -> None:
        start = time.perf_counter()
        try:
            loop = asyncio.get_running_loop()
            images = await loop.run_in_executor(self._thread, self._render, *_stack(batch))
        except Exception as error:  # noqa: BLE001 - each job gets its own verdict below
            if len(batch) > 1:
                # One bad job must not fail the others: render each alone.
                for job in batch:
                    if not job.future.done():
                        await self._render_batch([job])
                return
            _fail(batch[0], error)
            return
        self.stats.calls += 1
        self.stats.maps += len(images)
        self.stats.last_call_ms = (time.perf_counter() - start) * 1000
        offset = 0
        for job in batch:
            if not job.future.done():
                job.future.set_result(
                    Rendered(images[offset : offset + job.count], self.stats.last_call_ms)
                )
            offset += job.count


def _stack(batch: list[RenderJob]) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    if len(batch) == 1:
        job = batch[0]
        return job.labels, job.instances, job.features
    labels = np.concatenate([job.labels for job in batch])
    instances = None if batch[0].instances is None else np.concatenate([j.instances for j in batch])
    features = None if batch[0].features is None else np.concatenate([j.features for j in batch])
    return labels, instances, features


def _fail(job: RenderJob, error: Exception) -> None:
    if job.future.done():
        return
    if isinstance(error, ClientError):
        job.future.set_exception(error)
    elif isinstance(error, ValueError):
        # Runtime's ValueErrors describe the input (labels out of range, sizes).
        job.future.set_exception(ClientError(422, str(error)))
    elif isinstance(error, MemoryError):
        # Too many or too large maps for this machine (RenderMemoryError says which).
        job.future.set_exception(ClientError(413, str(error) or "out of memory for this render"))
    else:
        log.exception("render failed", exc_info=error)
        job.future.set_exception(RuntimeError("the render failed; see the server log"))
