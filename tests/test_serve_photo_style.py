# SPDX-License-Identifier: Apache-2.0
"""p2phd-serve on a real uvicorn: an object's style from an uploaded photo, encoded as
Runtime.render(..., features_from=photo) encodes it; and the refusals."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="needs the serve extra (fastapi)")
pytest.importorskip("uvicorn", reason="needs the serve extra (uvicorn)")

from p2phd.data.synthetic import synthetic_scene  # noqa: E402
from p2phd.runtime import Runtime  # noqa: E402
from tests.serve_helpers import (  # noqa: E402
    decode_png,
    png_bytes,
    save_tiny_feature_bundle,
    serve_process,
)

HEIGHT, WIDTH, SEED = 64, 128, 3


def put_photo(url: str, session: dict, instance: int, data: bytes) -> httpx.Response:
    path = f"{url}/api/sessions/{session['id']}/objects/{instance}/photo-style"
    return httpx.put(path, files={"photo": ("photo.png", data)}, timeout=60)


def assert_error(response: httpx.Response, status: int, text: str) -> None:
    assert response.status_code == status, response.text
    assert text in response.json()["detail"]


def test_a_photo_gives_an_object_the_encoders_style(tmp_path):
    model = save_tiny_feature_bundle(tmp_path / "tiny", encoder=True)
    scene = synthetic_scene(SEED, HEIGHT, WIDTH)
    args = (str(model), "--scene-size", f"{HEIGHT}x{WIDTH}", "--precision", "fp32")
    with serve_process(*args, log_path=tmp_path / "serve.log") as url:
        assert httpx.get(f"{url}/api/model").json()["photo_styles"] is True
        session = httpx.post(f"{url}/api/sessions", json={"seed": SEED}).json()
        base = f"{url}/api/sessions/{session['id']}"
        ids, counts = np.unique(scene.instances[scene.instances // 1000 == 26], return_counts=True)
        car = int(ids[np.argmax(counts)])
        before = decode_png(httpx.get(f"{base}/render.png").content)

        response = put_photo(url, session, car, png_bytes(scene.image))
        assert response.status_code == 200, response.text
        info = httpx.get(f"{base}/objects/{car}").json()
        assert info["photo_style"] is True and info["style"] is None
        after = decode_png(httpx.get(f"{base}/render.png").content)

        assert not np.array_equal(after[scene.instances == car], before[scene.instances == car])

        # Every object given the photo's style: the whole render is the photo-encoded one.
        for instance in np.unique(scene.instances).tolist():
            assert put_photo(url, session, instance, png_bytes(scene.image)).status_code == 200
        everything = decode_png(httpx.get(f"{base}/render.png").content)
        runtime = Runtime(model, device="cpu")
        assert np.array_equal(before, runtime.render(scene.labels, scene.instances, seed=SEED))
        expected = runtime.render(scene.labels, scene.instances, features_from=scene.image)
        assert np.array_equal(everything, expected)

        # One undoable step each: undone, the cluster styles come back.
        while httpx.get(base).json()["undo"]:
            assert httpx.post(f"{base}/undo").status_code == 200
        assert np.array_equal(decode_png(httpx.get(f"{base}/render.png").content), before)

        assert_error(put_photo(url, session, car, png_bytes(scene.image[:32])), 422, "32 x 128")
        assert_error(put_photo(url, session, 99999, png_bytes(scene.image)), 404, "not in the map")
        assert_error(put_photo(url, session, car, png_bytes(scene.labels)), 422, "colour")
        assert_error(put_photo(url, session, car, b"not an image"), 400, "photo")
        jpeg = io.BytesIO()
        Image.fromarray(scene.image).save(jpeg, format="JPEG")
        assert put_photo(url, session, car, jpeg.getvalue()).status_code == 200


def test_without_an_encoder_the_upload_is_refused(tmp_path):
    model = save_tiny_feature_bundle(tmp_path / "tiny")
    scene = synthetic_scene(SEED, HEIGHT, WIDTH)
    args = (str(model), "--scene-size", f"{HEIGHT}x{WIDTH}", "--precision", "fp32")
    with serve_process(*args, log_path=tmp_path / "serve.log") as url:
        assert httpx.get(f"{url}/api/model").json()["photo_styles"] is False
        session = httpx.post(f"{url}/api/sessions", json={"seed": SEED}).json()
        car = int(scene.instances[scene.instances // 1000 == 26][0])
        assert_error(put_photo(url, session, car, png_bytes(scene.image)), 409, "no encoder")
