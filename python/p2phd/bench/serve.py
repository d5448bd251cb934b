# SPDX-License-Identifier: Apache-2.0
"""p2phd-bench serve: a loopback load test of p2phd-serve. A real server process, N concurrent
clients, each with its own editor session, sending a fixed number of edits (a stroke, then
the new render) or stateless renders, once with the render queue batching and once without,
beside the bare Runtime.render of the same map."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from p2phd.bench import timing
from p2phd.data.synthetic import synthetic_scene
from p2phd.extras import require
from p2phd.runtime.devices import cpu_flags, interactive_precision


@dataclass
class ServeRow:
    case: str
    kind: str
    clients: int
    asked: int
    done: int
    errors: int
    p50_ms: float
    p99_ms: float
    requests_per_s: float
    runtime_calls: int
    mean_batch: float


@contextlib.contextmanager
def server(model: str, options: list[str], timeout: float) -> Iterator[str]:
    """A p2phd-serve process on a free loopback port; yields its URL once healthy."""
    httpx = require("httpx")

    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "p2phd.cli.serve", model, "--port", "0", *options],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                log.seek(0)
                text = log.read()
                found = re.search(r"listening on (http://[^/\s]+)/", text)
                if found:
                    with contextlib.suppress(httpx.HTTPError):
                        if httpx.get(f"{found.group(1)}/health").status_code == 200:
                            break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"p2phd-serve did not come up:\n{text}")
                time.sleep(0.05)
            yield found.group(1)
        finally:
            process.terminate()
            process.wait(30)


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


async def _load(url: str, kind: str, clients: int, requests: int, size, timeout: float):
    httpx = require("httpx")

    height, width = size
    scene = synthetic_scene(0, height, width)
    files = {
        "labels": ("l.png", _png(scene.labels), "image/png"),
        "instances": ("i.png", _png(scene.instances.astype(np.uint16)), "image/png"),
    }
    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=url, timeout=timeout) as client:

        async def one_client(index: int) -> None:
            nonlocal errors, issued
            session = None
            if kind == "edit":
                body = {"seed": index, "height": height, "width": width}
                session = (await client.post("/api/sessions", json=body)).json()["id"]
            step = 0
            while issued < requests and time.monotonic() < deadline:
                issued += 1
                step += 1
                start = time.perf_counter()
                try:
                    if kind == "edit":
                        y = (step * 7) % height
                        stroke = {
                            "op": "stroke",
                            "points": [[0, y], [width - 1, (y + 9) % height]],
                            "radius": 3,
                            "label": (21, 22)[step % 2],
                        }
                        response = await client.post(f"/api/sessions/{session}/edits", json=stroke)
                        response.raise_for_status()
                        response = await client.get(f"/api/sessions/{session}/render.png")
                    else:
                        response = await client.post("/api/render", files=files)
                    response.raise_for_status()
                    latencies.append((time.perf_counter() - start) * 1000)
                except httpx.HTTPError:
                    errors += 1

        start = time.perf_counter()
        before = (await client.get("/health")).json()
        await asyncio.gather(*(one_client(index) for index in range(clients)))
        wall = time.perf_counter() - start
        after = (await client.get("/health")).json()
    calls = after["render_calls"] - before["render_calls"]
    maps = after["rendered_maps"] - before["rendered_maps"]
    return latencies, errors, issued, wall, calls, maps


def bare_render(
    model: str,
    labels: np.ndarray,
    instances: np.ndarray,
    device: str,
    runs: int = 5,
    precision: str = "auto",
) -> ServeRow:
    """The baseline: Runtime.render of one map in this process, no HTTP, run in a worker
    thread as the server runs it."""
    from p2phd.runtime import Runtime

    runtime = Runtime(model, device=device, precision=precision)
    candidates = [lambda: runtime.render(labels, instances, seed=0)]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        samples = pool.submit(timing.measure, candidates, runs, warmup=1).result().samples[0]
    return ServeRow(
        case=f"bare Runtime.render, one map, {runtime.precision}",
        kind="in-process",
        clients=1,
        asked=runs,
        done=runs,
        errors=0,
        p50_ms=samples.median_ms,
        p99_ms=max(samples.wall_ms),
        requests_per_s=1000 / samples.median_ms,
        runtime_calls=runs,
        mean_batch=1.0,
    )


def run(
    model: str,
    kind: str,
    clients: int,
    requests: int,
    size: tuple[int, int],
    max_batch: int,
    max_wait_ms: float,
    device: str,
    timeout: float,
) -> list[ServeRow]:
    scene = synthetic_scene(0, *size)
    # The servers' precision ("auto" is bf16 on an AMX CPU there), so the rows compare.
    precision = interactive_precision("auto", torch.device(device), cpu_flags())
    rows = [bare_render(model, scene.labels, scene.instances, device, precision=precision)]
    cases = [
        (f"batching (max {max_batch}, wait {max_wait_ms:g} ms)", max_batch),
        ("no batching", 1),
    ]
    for case, batch in cases:
        options = ["--device", device, "--precision", precision, "--max-batch", str(batch)]
        options += ["--max-wait-ms", str(max_wait_ms)]
        options += ["--scene-size", f"{size[0]}x{size[1]}", "--max-sessions", str(clients + 1)]
        with server(model, options, timeout) as url:
            latencies, errors, issued, wall, calls, maps = asyncio.run(
                _load(url, kind, clients, requests, size, timeout)
            )
        ordered = sorted(latencies) or [float("nan")]
        rows.append(
            ServeRow(
                case=case,
                kind=kind,
                clients=clients,
                asked=requests,
                done=len(latencies),
                errors=errors,
                p50_ms=statistics.median(ordered),
                p99_ms=ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
                requests_per_s=len(latencies) / wall,
                runtime_calls=calls,
                mean_batch=maps / calls if calls else 0.0,
            )
        )
    return rows


def default_model() -> str:
    return str(Path(__file__).resolve().parent / "demo")
