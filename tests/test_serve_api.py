# SPDX-License-Identifier: Apache-2.0
"""p2phd-serve's HTTP API on FastAPI's TestClient (the app's lifespan runs; a real Runtime
with a tiny feature model renders): every route, and every kind of bad input."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="needs the serve extra (fastapi)")
pytest.importorskip("multipart", reason="needs the serve extra (python-multipart)")

from fastapi.testclient import TestClient  # noqa: E402

from p2phd.runtime import Runtime  # noqa: E402
from p2phd.serve import Settings, create_app  # noqa: E402
from tests.serve_helpers import decode_png, png_bytes, save_tiny_feature_bundle  # noqa: E402

SCENE = (64, 128)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    path = save_tiny_feature_bundle(tmp_path_factory.mktemp("serve") / "tiny")
    return Runtime(path, device="cpu")


def start(runtime: Runtime, **settings) -> TestClient:
    settings.setdefault("scene_size", SCENE)
    client = TestClient(create_app(Settings(**settings), runtime))
    client.__enter__()
    deadline = time.monotonic() + 60
    while client.get("/health").status_code != 200:
        assert time.monotonic() < deadline, "the server did not warm up"
        time.sleep(0.02)
    return client


@pytest.fixture(scope="module")
def client(runtime):
    client = start(runtime, max_upload_mb=0.5, max_side=256)
    yield client
    client.__exit__(None, None, None)


@pytest.fixture
def session(client):
    return client.post("/api/sessions", json={"seed": 3}).json()


def maps(client, session) -> tuple[np.ndarray, np.ndarray]:
    base = f"/api/sessions/{session['id']}"
    return (
        decode_png(client.get(f"{base}/labels.png").content),
        decode_png(client.get(f"{base}/instances.png").content),
    )


def render(client, session) -> np.ndarray:
    response = client.get(f"/api/sessions/{session['id']}/render.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    return decode_png(response.content)


def edit(client, session, **body):
    return client.post(f"/api/sessions/{session['id']}/edits", json=body)


def cars(instances: np.ndarray) -> list[int]:
    ids, counts = np.unique(instances[instances // 1000 == 26], return_counts=True)
    return ids[np.argsort(-counts)].tolist()


def assert_error(response, status: int, text: str) -> None:
    assert response.status_code == status, response.text
    assert text in str(response.json()["detail"])


# -- model, page, docs ---------------------------------------------------------------------
def test_health_model_page_and_docs(client):
    assert client.get("/health").json()["status"] == "ok"
    model = client.get("/api/model").json()
    assert model["label_nc"] == 35 and model["feature_model"]
    car = model["classes"][26]
    assert car == {"id": 26, "name": "car", "color": [0, 0, 142], "thing": True, "styles": 10}
    assert model["classes"][7]["styles"] == 0 and not model["classes"][7]["thing"]
    page = client.get("/")
    assert page.status_code == 200 and 'src="editor.js"' in page.text
    assert "http" not in page.text.split("<body")[0]  # nothing loaded from elsewhere
    assert all(client.get(f"/{name}").status_code == 200 for name in ("editor.js", "objects.js"))
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/render" in paths and "/api/sessions/{session_id}/edits" in paths


# -- sessions --------------------------------------------------------------------------------
def test_session_lifecycle_and_unguessable_ids(client):
    first = client.post("/api/sessions", json={"seed": 1})
    assert first.status_code == 201
    info = first.json()
    assert (info["height"], info["width"], info["undo"], info["redo"]) == (*SCENE, 0, 0)
    second = client.post("/api/sessions").json()
    assert len(info["id"]) >= 24 and info["id"] != second["id"]
    assert client.get(f"/api/sessions/{info['id']}").json() == info
    assert client.delete(f"/api/sessions/{info['id']}").status_code == 204
    assert_error(client.get(f"/api/sessions/{info['id']}"), 404, "unknown session")
    assert_error(client.get("/api/sessions/nope/render.png"), 404, "unknown session")
    sized = client.post("/api/sessions", json={"seed": 2, "height": 32, "width": 48}).json()
    assert (sized["height"], sized["width"]) == (32, 48)


def test_render_matches_runtime(client, runtime, session):
    labels, instances = maps(client, session)
    style = client.app.state.editor.store.get(session["id"]).style
    expected = runtime.render(labels, instances.astype(np.int32), style=style)
    assert np.array_equal(render(client, session), expected)
    again = client.get(f"/api/sessions/{session['id']}/render.png")
    assert again.headers["x-render-ms"] == "0.0"  # cached until the next change


def test_stroke_undo_redo_are_exact(client, session):
    labels0, instances0 = maps(client, session)
    image0 = render(client, session)
    response = edit(client, session, op="stroke", points=[[5, 60], [120, 50]], radius=3, label=21)
    assert response.json()["undo"] == 1
    labels1, instances1 = maps(client, session)
    assert labels1[55, 60] == 21 and instances1[55, 60] == 21  # stuff: instance = class
    assert (labels1 != labels0).sum() < 1500  # the stroke only
    image1 = render(client, session)
    assert not np.array_equal(image0, image1)
    edit(client, session, op="stroke", points=[[10, 10]], radius=5, label=26)
    _, instances2 = maps(client, session)
    assert instances2[10, 10] // 1000 == 26 and instances2[10, 10] not in instances0
    for _ in range(2):
        assert client.post(f"/api/sessions/{session['id']}/undo").status_code == 200
    labels, instances = maps(client, session)
    assert np.array_equal(labels, labels0) and np.array_equal(instances, instances0)
    assert np.array_equal(render(client, session), image0)
    assert_error(client.post(f"/api/sessions/{session['id']}/undo"), 409, "nothing to undo")
    assert client.post(f"/api/sessions/{session['id']}/redo").json()["redo"] == 1
    assert np.array_equal(render(client, session), image1)
    client.post(f"/api/sessions/{session['id']}/redo")
    assert_error(client.post(f"/api/sessions/{session['id']}/redo"), 409, "nothing to redo")


def test_new_scene_and_colours(client, session):
    base = f"/api/sessions/{session['id']}"
    edit(client, session, op="fill", x=0, y=0, label=22)
    info = client.post(f"{base}/scene", json={"seed": 4, "height": 32, "width": 48}).json()
    assert (info["height"], info["width"], info["seed"], info["undo"]) == (32, 48, 4, 0)
    labels, instances = maps(client, info)
    colors = decode_png(client.get(f"{base}/colors.png").content)
    assert colors.shape == (32, 48, 3)
    palette = client.app.state.editor.model.labels.palette
    # Away from instance boundaries (and the image border, skipped), the class colours.
    skipped = np.ones((32, 48), bool)
    skipped[1:-1, 1:-1] = False
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        skipped[1:-1, 1:-1] |= (np.roll(instances, (dy, dx), axis=(0, 1)) != instances)[1:-1, 1:-1]
    assert np.array_equal(colors[~skipped], palette[labels[~skipped]])
    assert_error(client.post(f"{base}/scene", json={"seed": 1, "width": 9999}), 422, "between")


def test_undo_answers_with_the_very_same_png_at_once(client, session):
    base = f"/api/sessions/{session['id']}"
    first = client.get(f"{base}/render.png")
    assert float(first.headers["x-runtime-ms"]) > 0
    edit(client, session, op="fill", x=0, y=0, label=22)
    assert client.get(f"{base}/render.png").content != first.content
    client.post(f"{base}/undo")
    again = client.get(f"{base}/render.png")
    assert again.content == first.content and again.headers["x-render-ms"] == "0.0"


def test_frame_is_the_render_and_the_colours_as_raw_rgba(client, session):
    """What the page draws after each edit: both images in one response, no PNG to encode
    on the server or to decode in the browser."""
    base = f"/api/sessions/{session['id']}"
    version = edit(client, session, op="fill", x=0, y=0, label=22).json()["version"]
    frame = client.get(f"{base}/frame")
    assert frame.status_code == 200
    assert frame.headers["content-type"] == "application/octet-stream"
    height, width = int(frame.headers["x-height"]), int(frame.headers["x-width"])
    assert (height, width) == SCENE and int(frame.headers["x-version"]) == version
    assert float(frame.headers["x-runtime-ms"]) > 0
    pixels = np.frombuffer(frame.content, np.uint8).reshape(2, height, width, 4)
    assert (pixels[..., 3] == 255).all()
    assert np.array_equal(pixels[0, ..., :3], render(client, session))
    assert np.array_equal(pixels[1, ..., :3], decode_png(client.get(f"{base}/colors.png").content))
    client.post(f"{base}/undo")
    client.post(f"{base}/redo")
    again = client.get(f"{base}/frame")
    assert again.content == frame.content and again.headers["x-render-ms"] == "0.0"
    assert_error(client.get("/api/sessions/nope/frame"), 404, "unknown session")


def test_an_edit_can_be_answered_with_its_frame(client, session):
    """The page's edits: one request applies the edit and answers with the new state's frame,
    the session in X-Session, where an edit and then GET .../frame took two."""
    base = f"/api/sessions/{session['id']}"
    stroke = {"op": "stroke", "points": [[5, 60], [120, 50]], "radius": 3, "label": 21}
    answer = client.post(f"{base}/edits/frame", json=stroke)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/octet-stream"
    info = json.loads(answer.headers["x-session"])
    assert info == client.get(base).json() and info["undo"] == 1
    assert int(answer.headers["x-version"]) == info["version"]
    assert float(answer.headers["x-runtime-ms"]) > 0
    assert answer.content == client.get(f"{base}/frame").content


def test_reset_is_one_undoable_step(client, session):
    labels0, _ = maps(client, session)
    for label in (21, 23, 11):
        edit(client, session, op="fill", x=64, y=60, label=label)
    assert not np.array_equal(maps(client, session)[0], labels0)
    info = client.post(f"/api/sessions/{session['id']}/reset").json()
    assert info["undo"] == 4 and np.array_equal(maps(client, session)[0], labels0)
    client.post(f"/api/sessions/{session['id']}/undo")
    assert maps(client, session)[0][60, 64] == 11


def test_fill_changes_the_connected_region_only(client, session):
    labels0, _ = maps(client, session)
    edit(client, session, op="fill", x=64, y=63, label=22)
    labels, instances = maps(client, session)
    changed = labels != labels0
    assert changed.any() and (labels0[changed] == labels0[63, 64]).all()
    assert (labels[changed] == 22).all() and (instances[changed] == 22).all()


def test_object_edits(client, session):
    labels0, instances0 = maps(client, session)
    car = cars(instances0)[0]
    base = f"/api/sessions/{session['id']}"
    y, x = np.argwhere(instances0 == car)[0]
    info = client.get(f"{base}/objects/at", params={"x": x, "y": y}).json()
    assert info["instance"] == car and info["name"] == "car" and info["styles"] == 10
    assert info["area"] == int((instances0 == car).sum()) and info["thing"]

    top, bottom, left, right = info["box"]
    # Beside the original, so that the copy covers none of it.
    dx = right - left + 1 if 2 * right - left + 1 <= SCENE[1] else left - right - 1
    edit(client, session, op="move", instance=car, dx=dx, dy=0, duplicate=True)
    _, instances = maps(client, session)
    assert (instances == car).sum() == info["area"]  # the original stays
    copy = int(instances[y, x + dx])
    assert copy // 1000 == 26 and copy != car and copy not in instances0
    assert (instances == copy).sum() == info["area"]

    edit(client, session, op="move", instance=copy, dx=0, dy=-1)
    _, instances = maps(client, session)
    moved = int(instances[y - 1, x + dx])
    assert copy not in instances and moved // 1000 == 26 and moved != car

    edit(client, session, op="set_class", instance=car, label=27)
    labels, instances = maps(client, session)
    assert car not in instances and labels[y, x] == 27 and instances[y, x] // 1000 == 27

    truck = int(instances[y, x])
    edit(client, session, op="delete", instance=truck)
    labels, instances = maps(client, session)
    assert truck not in instances and labels[y, x] != 27

    assert client.post(f"{base}/undo").status_code == 200
    assert client.get(f"{base}/objects/{truck}").json()["label"] == 27


def test_styles_strip_is_one_batched_call_and_style_applies(client, session):
    _, instances = maps(client, session)
    car = cars(instances)[0]
    base = f"/api/sessions/{session['id']}"
    image0 = render(client, session)
    stats = client.app.state.editor.queue.stats
    calls, maps_before = stats.calls, stats.maps
    strip = client.get(f"{base}/objects/{car}/styles.png")
    assert strip.status_code == 200 and strip.headers["x-style-count"] == "10"
    assert (stats.calls, stats.maps) == (calls + 1, maps_before + 10)
    top, bottom, left, right = (int(v) for v in strip.headers["x-tile-box"].split(","))
    tiles = decode_png(strip.content)
    assert tiles.shape == (bottom - top, 10 * (right - left), 3)
    current = client.get(f"{base}/objects/{car}").json()["style"]
    other = (current + 5) % 10
    width = right - left
    # The tile of the current style is the current render's crop.
    crop = image0[top:bottom, left:right]
    assert np.array_equal(tiles[:, current * width : (current + 1) * width], crop)
    assert edit(client, session, op="style", instance=car, cluster=other).status_code == 200
    image1 = render(client, session)
    assert np.array_equal(
        image1[top:bottom, left:right], tiles[:, other * width : (other + 1) * width]
    )
    client.post(f"{base}/undo")
    assert np.array_equal(render(client, session), image0)


def test_a_style_tile_is_one_call_of_one_map(client, session):
    _, instances = maps(client, session)
    car = cars(instances)[0]
    base = f"/api/sessions/{session['id']}/objects/{car}"
    strip = client.get(f"{base}/styles.png")
    stats = client.app.state.editor.queue.stats
    calls, maps_before = stats.calls, stats.maps
    tile = client.get(f"{base}/styles/4.png")
    assert (stats.calls, stats.maps) == (calls + 1, maps_before + 1)
    assert tile.headers["x-style-count"] == "10"
    assert tile.headers["x-tile-box"] == strip.headers["x-tile-box"]
    assert np.array_equal(decode_png(tile.content), np.split(decode_png(strip.content), 10, 1)[4])


def test_sessions_do_not_leak_into_each_other(client):
    a = client.post("/api/sessions", json={"seed": 5}).json()
    b = client.post("/api/sessions", json={"seed": 5}).json()
    edit(client, a, op="fill", x=0, y=0, label=22)
    assert not np.array_equal(maps(client, a)[0], maps(client, b)[0])
    assert client.get(f"/api/sessions/{b['id']}").json()["undo"] == 0


# -- bad edits -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ({"op": "stroke", "points": [[1, 1]], "radius": 2, "label": 35}, 422, "outside [0, 35)"),
        ({"op": "stroke", "points": [[1, 1]], "radius": 2, "label": -1}, 422, "outside [0, 35)"),
        ({"op": "stroke", "points": [], "radius": 2, "label": 3}, 422, "at least 1"),
        ({"op": "stroke", "points": [[1, 1]], "radius": 0, "label": 3}, 422, "greater than 0"),
        ({"op": "stroke", "points": [[1, 1]] * 5000, "radius": 1, "label": 3}, 413, "4096"),
        (
            {"op": "stroke", "points": [[1, 1]], "radius": 1, "label": 26, "instance": 24000},
            422,
            "not 26",
        ),
        ({"op": "fill", "x": 500, "y": 1, "label": 3}, 422, "outside the 64 x 128 map"),
        ({"op": "delete", "instance": 31999}, 404, "not in the map"),
        ({"op": "move", "instance": "CAR", "dx": 999, "dy": 0}, 422, "leaves the map"),
        ({"op": "style", "instance": "CAR", "cluster": 10}, 422, "outside [0, 10)"),
        ({"op": "style", "instance": 7, "cluster": 0}, 422, "no styles"),
        ({"op": "explode"}, 422, "does not match any of the expected tags"),
        ({"points": [[1, 1]]}, 422, "Unable to extract tag"),
    ],
)
@pytest.mark.parametrize("route", ["edits", "edits/frame"])
def test_bad_edits_are_4xx_json(client, session, body, status, text, route):
    _, instances = maps(client, session)
    body = {k: cars(instances)[0] if v == "CAR" else v for k, v in body.items()}
    response = client.post(f"/api/sessions/{session['id']}/{route}", json=body)
    assert_error(response, status, text)
    assert client.get(f"/api/sessions/{session['id']}").json()["undo"] == 0


def test_bad_object_queries(client, session):
    base = f"/api/sessions/{session['id']}/objects"
    assert_error(client.get(f"{base}/at", params={"x": -1, "y": 0}), 422, "outside")
    assert_error(client.get(f"{base}/at", params={"x": "a", "y": 0}), 422, "integer")
    assert_error(client.get(f"{base}/26999"), 404, "not in the map")
    assert_error(client.get(f"{base}/7/styles.png"), 422, "no styles")
    assert_error(client.get(f"{base}/7/styles/0.png"), 422, "no styles")
    assert_error(client.get(f"{base}/26999/styles/0.png"), 404, "not in the map")
    car = cars(maps(client, session)[1])[0]
    assert_error(client.get(f"{base}/{car}/styles/10.png"), 422, "outside [0, 10)")
    assert_error(client.get(f"{base}/{car}/styles/x.png"), 422, "integer")
    assert_error(client.post("/api/sessions", json={"seed": 0, "height": 4}), 422, "16 and 256")
    assert_error(client.post("/api/sessions", json={"seed": -1}), 422, "greater than")


# -- uploads and the stateless render -------------------------------------------------------
def upload(client, path, labels, instances=None, **data):
    files = {"labels": ("l.png", labels, "image/png")}
    if instances is not None:
        files["instances"] = ("i.png", instances, "image/png")
    return client.request("PUT" if path.endswith("/maps") else "POST", path, files=files, data=data)


def test_upload_round_trip_with_16_bit_instances(client, session):
    labels, instances = maps(client, session)
    assert instances.dtype == np.uint16  # Cityscapes' instanceIds format
    response = upload(client, "/api/sessions/upload", png_bytes(labels), png_bytes(instances))
    assert response.status_code == 201
    uploaded = response.json()
    got_labels, got_instances = maps(client, uploaded)
    assert np.array_equal(got_labels, labels) and np.array_equal(got_instances, instances)

    flipped = np.ascontiguousarray(labels[:, ::-1])
    put = upload(client, f"/api/sessions/{uploaded['id']}/maps", png_bytes(flipped))
    assert put.status_code == 200 and put.json()["undo"] == 0
    got_labels, got_instances = maps(client, put.json())
    assert np.array_equal(got_labels, flipped) and np.array_equal(got_instances, flipped)


def test_stateless_render_equals_the_session_render(client, runtime):
    session = client.post("/api/sessions", json={"seed": 9}).json()
    labels, instances = maps(client, session)
    response = upload(client, "/api/render", png_bytes(labels), png_bytes(instances), seed=str(9))
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert np.array_equal(decode_png(response.content), render(client, session))
    before = len(client.app.state.editor.store)
    upload(client, "/api/render", png_bytes(labels), png_bytes(instances))
    assert len(client.app.state.editor.store) == before  # nothing kept


def _rgb_png():
    return png_bytes(np.zeros((8, 8, 3), np.uint8))


def _jpeg():
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


LABELS = png_bytes(np.full((16, 32), 7, np.uint8))
BAD_UPLOADS = [
    ((b"\x89PNG\r\n\x1a\n garbage", None), 400, "not a readable PNG"),
    ((LABELS[: len(LABELS) // 2], None), 400, "not a readable PNG"),
    ((b"", None), 400, "empty"),
    ((_jpeg(), None), 400, "must be a PNG"),
    ((_rgb_png(), None), 422, "single-channel"),
    ((png_bytes(np.full((16, 32), 40, np.uint8)), None), 422, "label 40 is outside"),
    ((LABELS, png_bytes(np.zeros((16, 31), np.uint16))), 422, "16 x 32 but the instance"),
    ((LABELS, png_bytes(np.full((16, 32), 40000, np.uint16))), 422, "names a class outside"),
    ((png_bytes(np.zeros((16, 300), np.uint8)), None), 413, "at most 256 x 256"),
    ((np.random.default_rng(0).bytes(600_000), None), 413, "byte cap"),
]


@pytest.mark.parametrize(("files", "status", "text"), BAD_UPLOADS)
@pytest.mark.parametrize("route", ["/api/render", "/api/sessions/upload", "maps"])
def test_bad_uploads_are_4xx_json(client, route, files, status, text):
    if route == "maps":
        route = f"/api/sessions/{client.post('/api/sessions').json()['id']}/maps"
    response = upload(client, route, *files)
    assert_error(response, status, text)


def test_missing_file_and_oversized_body(client):
    assert_error(client.post("/api/render", data={"seed": "1"}), 422, "Field required")
    too_big = client.post(
        "/api/render", content=b"x" * (2 * 2**19 + 70000), headers={"content-type": "image/png"}
    )
    assert_error(too_big, 413, "exceeds the request body cap")


# -- limits: eviction, memory, batching ----------------------------------------------------
def test_least_recently_used_sessions_are_evicted(runtime):
    client = start(runtime, max_sessions=2)
    try:
        first, second = (client.post("/api/sessions").json()["id"] for _ in range(2))
        client.get(f"/api/sessions/{first}")  # first is now the more recently used
        third = client.post("/api/sessions").json()["id"]
        assert_error(client.get(f"/api/sessions/{second}"), 404, "evicted")
        for kept in (first, third):
            assert client.get(f"/api/sessions/{kept}").status_code == 200
    finally:
        client.__exit__(None, None, None)


def test_memory_cap_evicts_and_trims_history(runtime):
    # One 64 x 128 session holds 2 x 40 KB of maps; 0.25 MB fits two with some history.
    client = start(runtime, max_memory_mb=0.25)
    try:
        first = client.post("/api/sessions").json()
        second = client.post("/api/sessions").json()
        for index in range(20):
            label = (21, 22)[index % 2]  # each step a whole-map patch of 2 x 40 KB
            edit(client, second, op="stroke", points=[[0, 32], [128, 32]], radius=90, label=label)
        assert_error(client.get(f"/api/sessions/{first['id']}"), 404, "evicted")
        assert client.app.state.editor.store.nbytes <= 0.25 * 2**20
        assert 0 < client.get(f"/api/sessions/{second['id']}").json()["undo"] < 20
        # New maps for a session are held to the cap as a new session's are.
        base = f"/api/sessions/{second['id']}"
        big = {"labels": ("l.png", png_bytes(np.full((256, 256), 7, np.uint8)))}
        assert_error(client.put(f"{base}/maps", files=big), 413, "memory cap")
        scene = {"seed": 1, "height": 256, "width": 256}
        assert_error(client.post(f"{base}/scene", json=scene), 413, "memory cap")
        assert client.get(base).json()["height"] == 64
    finally:
        client.__exit__(None, None, None)
