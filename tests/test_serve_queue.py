# SPDX-License-Identifier: Apache-2.0
"""The render queue of p2phd-serve: concurrent renders of equal size share one Runtime call
(proven in-process with httpx's ASGI transport and asyncio.gather), and one bad job in a
batch fails alone."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="needs the serve extra (fastapi)")

import httpx  # noqa: E402

from p2phd.runtime import Runtime  # noqa: E402
from p2phd.serve import Settings, create_app  # noqa: E402
from p2phd.serve.errors import ClientError  # noqa: E402
from p2phd.serve.render_queue import RenderQueue  # noqa: E402
from tests.serve_helpers import decode_png, save_tiny_feature_bundle  # noqa: E402


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    path = save_tiny_feature_bundle(tmp_path_factory.mktemp("queue") / "tiny")
    return Runtime(path, device="cpu")


async def concurrent_renders(runtime: Runtime, settings: Settings, sizes: list[tuple[int, int]]):
    """Renders one new session per size at the same time; returns the images and how many
    Runtime calls they took."""
    app = create_app(settings, runtime)
    async with app.router.lifespan_context(app):
        editor = app.state.editor
        await editor.ready.wait()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ids = []
            for seed, (height, width) in enumerate(sizes):
                body = {"seed": seed, "height": height, "width": width}
                ids.append((await client.post("/api/sessions", json=body)).json()["id"])
            calls = editor.queue.stats.calls
            responses = await asyncio.gather(
                *(client.get(f"/api/sessions/{i}/render.png") for i in ids)
            )
            images = [decode_png(r.content) for r in responses]
            return images, editor.queue.stats.calls - calls


def test_concurrent_renders_share_one_call(runtime):
    sizes = [(32, 64)] * 4
    batched, calls = asyncio.run(
        concurrent_renders(
            runtime, Settings(max_batch=4, max_wait_ms=1000, scene_size=(32, 64)), sizes
        )
    )
    assert calls == 1
    alone, calls = asyncio.run(
        concurrent_renders(runtime, Settings(max_batch=1, scene_size=(32, 64)), sizes)
    )
    assert calls == 4
    # The same images either way (up to float summation order in a batch).
    for a, b in zip(batched, alone, strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_sizes_are_never_mixed_and_batches_stay_under_max(runtime):
    sizes = [(32, 64), (40, 64), (32, 64), (40, 64), (32, 64)]
    images, calls = asyncio.run(
        concurrent_renders(
            runtime, Settings(max_batch=2, max_wait_ms=1000, scene_size=(32, 64)), sizes
        )
    )
    assert [image.shape[:2] for image in images] == sizes
    assert calls == 3  # 32x64: 2 + 1, 40x64: 2


def test_one_bad_job_fails_alone(runtime):
    async def run():
        batches = []

        def render(labels, instances, features):
            batches.append(len(labels))
            return runtime.render(labels, instances, features=features)

        queue = RenderQueue(render, max_batch=4, max_wait_ms=500)
        queue.start()
        good = np.full((1, 16, 16), 7, np.uint8)
        bad = np.full((1, 16, 16), 200, np.uint8)
        features = np.zeros((1, 3, 16, 16), np.float32)
        instances = np.full((1, 16, 16), 7, np.int32)
        results = await asyncio.gather(
            queue.render(good, instances, features),
            queue.render(bad, instances, features),
            queue.render(good, instances, features),
            return_exceptions=True,
        )
        await queue.stop()
        return batches, results

    batches, (first, failure, third) = asyncio.run(run())
    assert batches == [3, 1, 1, 1]  # the joined call failed; each job then ran alone
    assert isinstance(failure, ClientError) and failure.status == 422
    assert "labels must lie in [0, 35)" in failure.message
    assert first.images.shape == (1, 16, 16, 3) and first.runtime_ms > 0
    assert np.array_equal(first.images, third.images)


def test_every_render_runs_on_the_queues_own_thread(runtime):
    """torch's CPU kernels start a team of OpenMP threads per calling thread: renders handed
    to whichever pool thread is free start new teams that compete with the old ones."""

    async def run():
        threads = []

        def render(labels, instances, features):
            threads.append(threading.current_thread().name)
            return runtime.render(labels, instances, features=features)

        queue = RenderQueue(render, max_batch=1, max_wait_ms=0)
        queue.start()
        labels = np.full((1, 16, 16), 7, np.uint8)
        instances = np.full((1, 16, 16), 7, np.int32)
        features = np.zeros((1, 3, 16, 16), np.float32)
        for _ in range(4):
            # Other work in asyncio's default pool, as the server encodes PNGs there.
            busy = asyncio.create_task(asyncio.to_thread(time.sleep, 0.05))
            await queue.render(labels, instances, features)
            await busy
        await queue.stop()
        return threads

    threads = asyncio.run(run())
    assert len(threads) == 4 and len(set(threads)) == 1
    assert threads[0].startswith("p2phd-render")


def test_health_is_503_until_the_warm_up_render(runtime):
    async def run():
        app = create_app(Settings(scene_size=(32, 64)), runtime)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            cold = await client.get("/health")  # the lifespan has not run: no model call yet
            async with app.router.lifespan_context(app):
                await app.state.editor.ready.wait()
                warm = await client.get("/health")
        return cold, warm

    cold, warm = asyncio.run(run())
    assert (cold.status_code, cold.json()["status"]) == (503, "warming up")
    assert (warm.status_code, warm.json()["render_calls"]) == (200, 1)


def test_a_full_queue_refuses_at_once_and_a_late_render_is_given_up(runtime):
    async def run():
        release = threading.Event()

        def render(labels, instances, features):
            release.wait(10)  # a render that takes as long as the test says
            return runtime.render(labels, instances, features=features)

        queue = RenderQueue(render, max_batch=1, max_wait_ms=0, max_queue=2, timeout_s=2)
        queue.start()
        labels = np.full((1, 16, 16), 7, np.uint8)
        instances = np.full((1, 16, 16), 7, np.int32)
        features = np.zeros((1, 3, 16, 16), np.float32)
        first = asyncio.create_task(queue.render(labels, instances, features))
        second = asyncio.create_task(queue.render(labels, instances, features))
        await asyncio.sleep(0.05)
        with pytest.raises(ClientError) as full:
            await queue.render(labels, instances, features)
        late = await asyncio.gather(first, second, return_exceptions=True)
        pending_after = queue.pending
        release.set()
        queue.timeout_s = 60  # the worker goes on: a render asked for now is answered
        again = await queue.render(labels, instances, features)
        await queue.stop()
        return full.value, late, pending_after, again

    full, late, pending_after, again = asyncio.run(run())
    assert full.status == 503 and full.headers == {"Retry-After": "1"}
    assert "busy" in full.message
    assert all(isinstance(error, ClientError) and error.status == 504 for error in late)
    assert "within 2 s" in late[0].message
    assert pending_after == 0  # given up: room again for new renders
    assert again.images.shape == (1, 16, 16, 3)


def test_the_server_answers_503_with_retry_after_when_its_queue_is_full(runtime):
    async def run():
        # The first render waits a second for company, holding the only place in the queue.
        settings = Settings(scene_size=(32, 64), max_queue=1, max_wait_ms=1000)
        app = create_app(settings, runtime)
        async with app.router.lifespan_context(app):
            await app.state.editor.ready.wait()
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                ids = [(await client.post("/api/sessions")).json()["id"] for _ in range(2)]
                return await asyncio.gather(
                    *(client.get(f"/api/sessions/{i}/render.png") for i in ids)
                )

    # Whichever reached the queue second was refused.
    served, refused = sorted(asyncio.run(run()), key=lambda response: response.status_code)
    assert served.status_code == 200
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert "busy" in refused.json()["detail"]


def test_a_warm_up_past_the_deadline_is_reported_by_health(runtime):
    async def run():
        app = create_app(Settings(scene_size=(32, 64), render_timeout_s=1e-6), runtime)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                while app.state.editor.warm_up_error is None:
                    await asyncio.sleep(0.01)
                health = await client.get("/health")
                session = (await client.post("/api/sessions")).json()["id"]
                render = await client.get(f"/api/sessions/{session}/render.png")
                return health, render

    health, render = asyncio.run(run())
    assert health.status_code == 503 and health.json()["status"] == "warm-up failed"
    assert "did not finish within 1e-06 s" in health.json()["detail"]
    assert render.status_code == 504 and "did not finish" in render.json()["detail"]


def test_a_render_past_the_memory_limit_is_413_not_500(tmp_path):
    """A style strip renders one map per cluster at once: ten 2048 x 2048 maps needed 24 GiB
    and answered 500. Here the Runtime's memory limit admits one small map, not ten."""
    path = save_tiny_feature_bundle(tmp_path / "tiny")
    runtime = Runtime(path, device="cpu", memory_limit=16 * 2**20)

    async def run():
        app = create_app(Settings(scene_size=(64, 128)), runtime)
        async with app.router.lifespan_context(app):
            editor = app.state.editor
            await asyncio.wait_for(editor.ready.wait(), 60)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                session = (await client.post("/api/sessions", json={"seed": 3})).json()["id"]
                instances = editor.store.get(session).instances
                car = int(instances[instances // 1000 == 26][0])
                base = f"/api/sessions/{session}"
                return (
                    await client.get(f"{base}/render.png"),
                    await client.get(f"{base}/objects/{car}/styles.png"),
                )

    one, strip = asyncio.run(run())
    assert one.status_code == 200
    assert strip.status_code == 413 and "memory_limit" in strip.json()["detail"]
