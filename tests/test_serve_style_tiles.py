# SPDX-License-Identifier: Apache-2.0
"""A style strip tile by tile, on one real uvicorn process: GET .../styles/{k}.png for k in
order is the strip's tile k, so the page can show each as it comes; requests of two
sessions at once stay apart, and a session deleted mid-strip leaves nothing waiting."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="needs the serve extra (fastapi)")
pytest.importorskip("uvicorn", reason="needs the serve extra (uvicorn)")

from tests.serve_helpers import decode_png, save_tiny_feature_bundle, serve_process  # noqa: E402

STYLES = 10  # the tiny model's clusters per class


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """A client of one p2phd-serve process with the tiny feature model, for the module."""
    folder = tmp_path_factory.mktemp("style-tiles")
    model = save_tiny_feature_bundle(folder / "tiny")
    args = (str(model), "--scene-size", "64x128", "--precision", "fp32")
    with (
        serve_process(*args, log_path=folder / "serve.log") as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        yield client


def new_session(client: httpx.Client, seed: int) -> tuple[str, int]:
    """A session's base path and its largest car."""
    session = client.post("/api/sessions", json={"seed": seed}).json()["id"]
    base = f"/api/sessions/{session}"
    instances = decode_png(client.get(f"{base}/instances.png").content)
    ids, counts = np.unique(instances[instances // 1000 == 26], return_counts=True)
    return base, int(ids[np.argmax(counts)])


def strip_tiles(response: httpx.Response) -> list[np.ndarray]:
    """styles.png cut into its tiles."""
    assert response.status_code == 200, response.text
    count = int(response.headers["x-style-count"])
    return np.split(decode_png(response.content), count, axis=1)


def test_the_strip_comes_style_by_style(client):
    base, car = new_session(client, 3)
    strip = client.get(f"{base}/objects/{car}/styles.png")
    expected = strip_tiles(strip)
    progress = []
    for k in range(1, STYLES + 1):
        tile = client.get(f"{base}/objects/{car}/styles/{k - 1}.png")
        assert tile.status_code == 200, tile.text
        assert tile.headers["x-tile-box"] == strip.headers["x-tile-box"]
        assert np.array_equal(decode_png(tile.content), expected[k - 1]), f"style {k}"
        progress.append((k, int(tile.headers["x-style-count"])))
    assert progress == [(k, STYLES) for k in range(1, STYLES + 1)]


def test_bad_tiles_are_4xx(client):
    base, car = new_session(client, 3)
    for cluster in (STYLES, -1):
        response = client.get(f"{base}/objects/{car}/styles/{cluster}.png")
        assert response.status_code == 422 and "outside [0, 10)" in response.json()["detail"]
    road = client.get(f"{base}/objects/7/styles/0.png")
    assert road.status_code == 422 and "no styles" in road.json()["detail"]
    gone = client.get(f"{base}/objects/26999/styles/0.png")
    assert gone.status_code == 404 and "not in the map" in gone.json()["detail"]


def test_two_strips_at_once_and_a_session_deleted_mid_strip(client):
    """Two sessions ask for their tiles at the same time (the queue may join them into one
    Runtime call): each gets its own. One session is deleted after its third tile: its next
    tile is 404 while the other strip goes on, and the server is left as it was."""
    kept, kept_car = new_session(client, 3)
    doomed, doomed_car = new_session(client, 4)
    expected = strip_tiles(client.get(f"{kept}/objects/{kept_car}/styles.png"))

    async def tiles(http: httpx.AsyncClient, base: str, car: int, delete_after: int | None):
        answers = []
        for k in range(STYLES):
            answers.append(await http.get(f"{base}/objects/{car}/styles/{k}.png"))
            if k + 1 == delete_after:
                assert (await http.delete(base)).status_code == 204
        return answers

    async def both():
        async with httpx.AsyncClient(base_url=client.base_url, timeout=60) as http:
            return await asyncio.gather(
                tiles(http, kept, kept_car, None), tiles(http, doomed, doomed_car, 3)
            )

    kept_tiles, doomed_tiles = asyncio.run(both())
    for k, tile in enumerate(kept_tiles):
        assert tile.status_code == 200, tile.text
        assert np.array_equal(decode_png(tile.content), expected[k]), f"style {k + 1}"
    assert [tile.status_code for tile in doomed_tiles] == [200] * 3 + [404] * (STYLES - 3)
    assert "unknown session" in doomed_tiles[-1].json()["detail"]
    assert client.get("/health").status_code == 200
    again = client.get(f"{kept}/objects/{kept_car}/styles/0.png")
    assert np.array_equal(decode_png(again.content), expected[0])
