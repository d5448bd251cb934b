# SPDX-License-Identifier: Apache-2.0
"""p2phd-serve against hostile clients, on one real uvicorn process: non-finite and huge
numbers in every numeric field, chunked bodies past the cap, and heavy edits, which must
neither answer 500 nor keep /health or other sessions waiting."""

from __future__ import annotations

import json
import socket
import threading
import time
from urllib.parse import urlsplit

import numpy as np
import pytest

pytest.importorskip("uvicorn", reason="needs the serve extra (uvicorn)")

import httpx  # noqa: E402

from p2phd import checkpoint  # noqa: E402
from p2phd.models import GeneratorConfig, build_generator  # noqa: E402
from tests.serve_helpers import png_bytes, save_tiny_feature_bundle, serve_process  # noqa: E402

HOSTILE_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e308", "-1e308", str(2**64), str(-(2**70))]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    model = save_tiny_feature_bundle(folder / "tiny")
    args = (str(model), "--scene-size", "32x64", "--max-side", "2048", "--max-upload-mb", "1")
    with serve_process(*args, log_path=folder / "serve.log") as url:
        yield url


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server, timeout=60) as client:
        yield client


@pytest.fixture
def session(client):
    return client.post("/api/sessions", json={"seed": 3}).json()["id"]


def edit_bodies(number: str) -> list[str]:
    """Every edit with `number` (JSON text) in one numeric field at a time."""
    templates = [
        '{"op": "stroke", "points": [[N, 1]], "radius": 2, "label": 7}',
        '{"op": "stroke", "points": [[1, N]], "radius": 2, "label": 7}',
        '{"op": "stroke", "points": [[1, 1], [N, N]], "radius": 2, "label": 7}',
        '{"op": "stroke", "points": [[1, 1]], "radius": N, "label": 7}',
        '{"op": "stroke", "points": [[1, 1]], "radius": 2, "label": N}',
        '{"op": "stroke", "points": [[1, 1]], "radius": 2, "label": 26, "instance": N}',
        '{"op": "fill", "x": N, "y": 1, "label": 7}',
        '{"op": "fill", "x": 1, "y": N, "label": 7}',
        '{"op": "fill", "x": 1, "y": 1, "label": N}',
        '{"op": "set_class", "instance": N, "label": 7}',
        '{"op": "set_class", "instance": 7, "label": N}',
        '{"op": "delete", "instance": N}',
        '{"op": "move", "instance": N, "dx": 1, "dy": 1}',
        '{"op": "move", "instance": 7, "dx": N, "dy": 1}',
        '{"op": "move", "instance": 7, "dx": 1, "dy": N}',
        '{"op": "style", "instance": N, "cluster": 0}',
        '{"op": "style", "instance": 7, "cluster": N}',
    ]
    return [template.replace("N", number) for template in templates]


def assert_json_4xx(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert "detail" in json.loads(response.text)  # strict JSON: no NaN or Infinity in it


@pytest.mark.parametrize("number", HOSTILE_NUMBERS)
def test_hostile_numbers_in_edits_are_4xx_json_on_one_connection(client, session, number):
    headers = {"content-type": "application/json"}
    for route in ("edits", "edits/frame"):
        for body in edit_bodies(number):
            response = client.post(
                f"/api/sessions/{session}/{route}", content=body, headers=headers
            )
            if response.status_code != 200:
                assert_json_4xx(response)
    # The kept-alive connection still works.
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize("number", HOSTILE_NUMBERS)
def test_hostile_numbers_in_scenes_and_queries_are_4xx_json(client, session, number):
    headers = {"content-type": "application/json"}
    for field in ("seed", "height", "width"):
        body = f'{{"{field}": {number}}}'
        assert_json_4xx(client.post("/api/sessions", content=body, headers=headers))
        route = f"/api/sessions/{session}/scene"
        assert_json_4xx(client.post(route, content=body, headers=headers))
    for query in ({"x": number, "y": 1}, {"x": 1, "y": number}):
        assert_json_4xx(client.get(f"/api/sessions/{session}/objects/at", params=query))
    tiles = (f"objects/{number}/styles/0.png", f"objects/26000/styles/{number}.png")
    for route in (f"objects/{number}", f"objects/{number}/styles.png", *tiles):
        assert_json_4xx(client.get(f"/api/sessions/{session}/{route}"))
    labels = png_bytes(np.full((16, 32), 7, np.uint8))
    response = client.post(
        "/api/render", files={"labels": ("l.png", labels)}, data={"seed": number}
    )
    assert_json_4xx(response)


def test_a_chunked_body_past_the_cap_is_413_before_it_ends(server):
    """No Content-Length: the server counts as it reads, and answers once past the cap
    (1 MB for JSON) without waiting for the rest of the body."""
    address = urlsplit(server)
    chunk = b"[" * 65536
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        connection.sendall(
            b"POST /api/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        # Just past the cap, and the body never ends (sending on after the server's answer
        # would reset the connection before the answer is read).
        for _ in range(17):
            connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            data = connection.recv(65536)
            if not data:
                break
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert "exceeds the request body cap" in json.loads(body)["detail"]


def test_a_json_body_past_its_cap_is_413_before_it_is_parsed(client, session):
    """A JSON edit is parsed on the event loop: 24 MB of stroke points kept /health waiting
    5 s before the 4096-point cap refused them."""
    points = [[1.5, 2.5]] * 200_000  # 2.4 MB
    body = {"op": "stroke", "points": points, "radius": 1, "label": 7}
    response = client.post(f"/api/sessions/{session}/edits", json=body)
    assert response.status_code == 413
    assert "exceeds the request body cap" in response.json()["detail"]


def test_a_chunked_body_under_the_cap_is_read(client):
    body = json.dumps({"seed": 4, "height": 32, "width": 48}).encode()
    response = client.post(
        "/api/sessions",
        content=iter([body[:5], body[5:]]),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 201 and response.json()["width"] == 48


def stripes_session(client: httpx.Client, side: int) -> str:
    """A session on a side x side map of 1-pixel stripes of two classes joined at the bottom:
    one region of side * side / 2 pixels in side * side / 2 runs."""
    labels = np.full((side, side), 7, np.uint8)
    labels[:, 1::2] = 8
    labels[-1] = 7
    response = client.post("/api/sessions/upload", files={"labels": ("l.png", png_bytes(labels))})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_heavy_edits_never_keep_health_or_other_sessions_waiting(server, client, session):
    """A flood fill and a stroke at the row budget on 2048 x 2048 maps take seconds on the
    2-core machine; meanwhile /health and another session answer, each within 1 s."""
    filled, stroked = stripes_session(client, 2048), stripes_session(client, 2048)
    heavy = [
        (filled, {"op": "fill", "x": 0, "y": 0, "label": 21}),
        (
            stroked,
            {"op": "stroke", "points": [[0, 0], [2047, 2047]] * 500, "radius": 1, "label": 21},
        ),
    ]
    answers: list[int] = []

    def run(session_id: str, body: dict) -> None:
        with httpx.Client(base_url=server, timeout=120) as own:
            answers.append(own.post(f"/api/sessions/{session_id}/edits", json=body).status_code)

    threads = [threading.Thread(target=run, args=edit) for edit in heavy]
    for thread in threads:
        thread.start()
    waits = []
    with httpx.Client(base_url=server, timeout=30) as poller:
        while any(thread.is_alive() for thread in threads):
            for route in ("/health", f"/api/sessions/{session}"):
                start = time.monotonic()
                assert poller.get(route).status_code == 200
                waits.append(time.monotonic() - start)
            time.sleep(0.05)
    for thread in threads:
        thread.join()
    assert answers == [200, 200]
    assert waits and max(waits) < 1.0, f"slowest answer during the edits: {max(waits):.2f} s"
    undo = client.get(f"/api/sessions/{filled}").json()["undo"]
    assert undo == 1


def test_a_model_with_fewer_labels_than_the_scenes_warms_up(tmp_path):
    """Synthetic scenes use Cityscapes' 35 labels: the warm-up folds them into the model's."""
    config = GeneratorConfig(label_nc=8, ngf=4, n_downsample_global=1, n_blocks_global=1)
    model = checkpoint.LoadedModel(config=config, generator=build_generator(config))
    path = checkpoint.save_bundle(model, tmp_path / "eight")
    log = tmp_path / "serve.log"
    with serve_process(str(path), "--scene-size", "32x64", log_path=log, timeout=60) as url:
        assert httpx.get(f"{url}/health").json()["status"] == "ok"
        refused = httpx.post(f"{url}/api/sessions", json={"seed": 1})
        assert refused.status_code == 409 and "8 classes" in refused.json()["detail"]
        labels = png_bytes(np.full((16, 32), 5, np.uint8))
        uploaded = httpx.post(f"{url}/api/sessions/upload", files={"labels": ("l.png", labels)})
        assert uploaded.status_code == 201
        assert httpx.get(f"{url}/api/model").json()["label_nc"] == 8
        base = f"{url}/api/sessions/{uploaded.json()['id']}"
        stroke = {"op": "stroke", "points": [[3, 3]], "radius": 2, "label": 7}
        assert httpx.post(f"{base}/edits/frame", json=stroke).status_code == 200
