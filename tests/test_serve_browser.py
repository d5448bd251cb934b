# SPDX-License-Identifier: Apache-2.0
"""The editor page in a real headless Chromium against a real p2phd-serve process with the
demo model: paint, restyle an object, undo back to the exact first render, download.

The page writes its state into <body data-*>; the tests wait on that, never on time.
Set P2PHD_SCREENSHOT=path.png to keep a screenshot of the editor (the README's)."""

from __future__ import annotations

import base64
import os
import re
import statistics
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch

CHROMIUM = Path(os.environ.get("P2PHD_CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.is_file():
    pytest.skip(
        f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; .ci/run does)",
        allow_module_level=True,
    )
pytest.importorskip("fastapi", reason="needs the serve extra (fastapi)")
sync_api = pytest.importorskip("playwright.sync_api", reason="needs the serve extra (playwright)")
expect = sync_api.expect

from p2phd.data.synthetic import synthetic_scene  # noqa: E402
from tests.serve_helpers import (  # noqa: E402
    decode_png,
    png_bytes,
    save_tiny_feature_bundle,
    serve_process,
)

LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RENDER_TIMEOUT_MS = 60_000  # a generous bound on one render on a busy 2-core machine


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    log = tmp_path_factory.mktemp("serve") / "p2phd-serve.log"
    failed_before = request.session.testsfailed
    with serve_process("--device", "cpu", log_path=log) as url:
        yield url
    if request.session.testsfailed > failed_before:
        print(f"--- p2phd-serve log ---\n{log.read_text()}")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.goto(server)
    wait_idle(page)
    yield page
    context.close()


def wait_idle(page, after_version: str | None = None) -> None:
    body = page.locator("body")
    if after_version is not None:
        expect(body).not_to_have_attribute("data-version", after_version, timeout=RENDER_TIMEOUT_MS)
    expect(body).to_have_attribute("data-render-state", "idle", timeout=RENDER_TIMEOUT_MS)


# Resolves when the page shows a version other than `before` and is idle. Event-driven (a
# MutationObserver), so that nothing polls the page while a latency is measured: expect()
# polls, and on two cores its polling slows the render it waits for.
IDLE_AFTER = """([before, timeoutMs]) => {
  window.p2phdIdleAfter = new Promise((resolve, reject) => {
    const done = () => document.body.dataset.version !== before
      && document.body.dataset.renderState === "idle";
    const observer = new MutationObserver(() => {
      if (done()) { observer.disconnect(); resolve(); }
    });
    observer.observe(document.body, { attributes: true });
    setTimeout(() => reject(new Error(`no new image within ${timeoutMs} ms`)), timeoutMs);
  });
}"""


def version(page) -> str:
    return page.locator("body").get_attribute("data-version")


def canvas_pixels(page, canvas_id: str) -> np.ndarray:
    url = page.evaluate(f"document.getElementById('{canvas_id}').toDataURL('image/png')")
    return decode_png(base64.b64decode(url.split(",", 1)[1]))[..., :3]


def map_size(page) -> tuple[int, int]:
    return tuple(page.evaluate("[$('labels').height, $('labels').width]"))


def stroke(page, points: list[tuple[float, float]]) -> None:
    """Drags the mouse through `points` (x, y in map pixels) on the label canvas."""
    box = page.locator("#labels-overlay").bounding_box()
    height, width = map_size(page)

    def screen(point):
        return box["x"] + point[0] * box["width"] / width, box["y"] + point[1] * box[
            "height"
        ] / height

    page.mouse.move(*screen(points[0]))
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*screen(point), steps=8)
    page.mouse.up()


def click_map(page, x: float, y: float) -> None:
    box = page.locator("#labels-overlay").bounding_box()
    height, width = map_size(page)
    page.mouse.click(
        box["x"] + (x + 0.5) * box["width"] / width, box["y"] + (y + 0.5) * box["height"] / height
    )


def session_maps(server: str, page) -> tuple[np.ndarray, np.ndarray]:
    base = f"{server}/api/sessions/{page.locator('body').get_attribute('data-session')}"
    labels = decode_png(httpx.get(f"{base}/labels.png").content)
    instances = decode_png(httpx.get(f"{base}/instances.png").content)
    return labels, instances


def test_paint_restyle_undo_download(page, server, tmp_path):
    original = canvas_pixels(page, "render")
    session = page.locator("body").get_attribute("data-session")
    served = decode_png(httpx.get(f"{server}/api/sessions/{session}/render.png").content)
    assert np.array_equal(original, served), "the page shows the server's render unchanged"

    # Paint a stroke of vegetation across the road.
    page.click('#palette li[data-label="21"]')
    height, width = map_size(page)
    before = version(page)
    stroke(page, [(width * 0.25, height * 0.85), (width * 0.75, height * 0.8)])
    wait_idle(page, before)
    painted = canvas_pixels(page, "render")
    assert not np.array_equal(painted, original)
    labels, instances = session_maps(server, page)
    assert labels[int(height * 0.82), width // 2] == 21

    # Select the largest car and apply another of its styles from the strip.
    cars, areas = np.unique(instances[instances // 1000 == 26], return_counts=True)
    car = int(cars[np.argmax(areas)])
    ys, xs = np.nonzero(instances == car)
    middle = np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2)
    page.keyboard.press("v")
    click_map(page, xs[middle], ys[middle])
    expect(page.locator("body")).to_have_attribute(
        "data-strip-state", "ready", timeout=RENDER_TIMEOUT_MS
    )
    tiles = page.locator("#style-strip canvas")
    expect(tiles).to_have_count(10)
    current = int(page.locator("#style-strip canvas.current").get_attribute("data-cluster"))
    before = version(page)
    tiles.nth((current + 3) % 10).click()
    wait_idle(page, before)
    chosen = (current + 3) % 10
    expect(page.locator("#style-strip canvas.current")).to_have_attribute(
        "data-cluster", str(chosen)
    )
    # The panel and the tiles count the styles alike, from 1.
    expect(page.locator("#object-title")).to_contain_text(f"style {chosen + 1} of 10")
    expect(tiles.nth(chosen)).to_have_attribute("title", f"style {chosen + 1}")
    styled = canvas_pixels(page, "render")
    assert not np.array_equal(styled, painted)
    screenshot = os.environ.get("P2PHD_SCREENSHOT")
    page.screenshot(path=screenshot or tmp_path / "editor.png")

    # Undo twice with the keyboard: the first render, bit for bit.
    for _ in range(2):
        before = version(page)
        page.keyboard.press("Control+z")
        wait_idle(page, before)
    assert np.array_equal(canvas_pixels(page, "render"), original)

    with page.expect_download() as download:
        page.click("#download-render")
    downloaded = decode_png(Path(download.value.path()).read_bytes())
    assert np.array_equal(downloaded, original)


# Logs every text the style strip's progress line takes, with the number of tiles filled
# when it took it; with a trigger, once the line says "rendering style 2": selects another
# object (as a click on it does), or deletes the session.
STRIP_LOG = """([trigger]) => {
  window.stripLog = [];
  if (window.stripObserver) window.stripObserver.disconnect();
  window.stripObserver = new MutationObserver((records) => {
    const filled = document.querySelectorAll("#style-strip canvas:not(.pending)").length;
    for (const record of records) {
      for (const node of record.addedNodes) {
        window.stripLog.push([node.textContent, filled]);
        if (trigger && node.textContent.startsWith("rendering style 2 ")) {
          if (trigger.select) select(trigger.select, true);
          else fetch(sessionPath(""), { method: "DELETE" });
          trigger = null;
        }
      }
    }
  });
  window.stripObserver.observe($("strip-progress"), { childList: true });
}"""


def upload_scene(page, tmp_path: Path, seed: int) -> np.ndarray:
    """Uploads a small synthetic scene (64 x 128: quick tiles) and returns its instances."""
    scene = synthetic_scene(seed, 64, 128)
    (tmp_path / "labelIds.png").write_bytes(png_bytes(scene.labels))
    (tmp_path / "instanceIds.png").write_bytes(png_bytes(scene.instances.astype(np.uint16)))
    page.set_input_files("#upload-labels", tmp_path / "labelIds.png")
    page.set_input_files("#upload-instances", tmp_path / "instanceIds.png")
    before = version(page)
    page.click("#upload")
    wait_idle(page, before)
    return scene.instances


def largest_cars(instances: np.ndarray) -> list[int]:
    cars, areas = np.unique(instances[instances // 1000 == 26], return_counts=True)
    return cars[np.argsort(-areas)].tolist()


def click_object(page, instances: np.ndarray, instance: int) -> None:
    ys, xs = np.nonzero(instances == instance)
    middle = np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2)
    click_map(page, xs[middle], ys[middle])


def strip_on_page(page) -> list[np.ndarray]:
    urls = page.evaluate(
        "[...document.querySelectorAll('#style-strip canvas')].map((c) => c.toDataURL())"
    )
    return [decode_png(base64.b64decode(url.split(",", 1)[1]))[..., :3] for url in urls]


def served_strip(server: str, page, instance: int) -> list[np.ndarray]:
    session = page.locator("body").get_attribute("data-session")
    strip = httpx.get(f"{server}/api/sessions/{session}/objects/{instance}/styles.png")
    return np.split(decode_png(strip.content), int(strip.headers["x-style-count"]), axis=1)


def progress_texts(count: int) -> list[list]:
    """The log of a strip of `count` styles shown from start to end: each "rendering style k
    of N", with k - 1 tiles filled."""
    return [[f"rendering style {k} of {count}…", k - 1] for k in range(1, count + 1)]


def test_the_style_strip_shows_its_progress_and_fills_tile_by_tile(page, server, tmp_path):
    instances = upload_scene(page, tmp_path, 2)
    first, second = largest_cars(instances)[:2]
    page.keyboard.press("v")
    page.evaluate(STRIP_LOG, [None])
    click_object(page, instances, first)
    body = page.locator("body")
    expect(body).to_have_attribute("data-strip-state", "ready", timeout=RENDER_TIMEOUT_MS)
    assert page.evaluate("window.stripLog") == progress_texts(10)
    expect(page.locator("#strip-progress")).to_have_text("")
    expect(page.locator("#style-strip canvas.pending")).to_have_count(0)
    tiles = strip_on_page(page)
    expected = served_strip(server, page, first)
    assert len(tiles) == 10 and all(map(np.array_equal, tiles, expected))

    # Another object picked while the strip is on its way: the first strip stops between two
    # tiles, and only the second one's progress and tiles are shown.
    page.evaluate(STRIP_LOG, [{"select": second}])
    click_object(page, instances, first)
    expect(page.locator("#style-strip")).to_have_attribute(
        "data-instance", str(second), timeout=RENDER_TIMEOUT_MS
    )
    expect(body).to_have_attribute("data-strip-state", "ready", timeout=RENDER_TIMEOUT_MS)
    log = page.evaluate("window.stripLog")
    restart = max(i for i, (text, _) in enumerate(log) if text.startswith("rendering style 1 "))
    assert restart > 0 and log[restart:] == progress_texts(10), log
    tiles = strip_on_page(page)
    assert all(map(np.array_equal, tiles, served_strip(server, page, second)))
    expect(page.locator("#message")).to_have_text("")


def test_a_strip_whose_session_is_deleted_stops_with_an_error(page, server, tmp_path):
    instances = upload_scene(page, tmp_path, 2)
    page.keyboard.press("v")
    page.evaluate(STRIP_LOG, [{"delete": True}])
    click_object(page, instances, largest_cars(instances)[0])
    body = page.locator("body")
    expect(body).to_have_attribute("data-strip-state", "error", timeout=RENDER_TIMEOUT_MS)
    expect(page.locator("#strip-progress")).to_have_text(re.compile(r"style \d+ of 10 failed"))
    expect(page.locator("#message")).to_contain_text("404: unknown session")
    assert page.evaluate("window.stripLog")[-1][0].endswith("failed")


@pytest.mark.parametrize("precision", ["auto", "fp32"])
def test_stroke_to_image_latency(browser, tmp_path, precision):
    """Measures, and reports without asserting, the time from the end of a stroke to the new
    image on the page, beside the bare Runtime.render of the same map at the server's
    precision: the default ("auto": bf16 on a CPU with AMX) and fp32."""
    from p2phd.bench import serve as bench_serve
    from p2phd.cli.render import DEMO_MODEL
    from p2phd.runtime.devices import cpu_flags, interactive_precision

    resolved = interactive_precision(precision, torch.device("cpu"), cpu_flags())
    if (
        precision == "fp32"
        and interactive_precision("auto", torch.device("cpu"), cpu_flags()) == "auto"
    ):
        pytest.skip("the default is fp32 on this CPU: measured as auto")
    args = ("--device", "cpu", "--precision", precision)
    with serve_process(*args, log_path=tmp_path / "serve.log") as url:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.goto(url)
        wait_idle(page)
        height, width = map_size(page)
        latencies, server_ms, runtime_ms = [], [], []
        # Stroke 0 is not counted: the first edit after loading pays one-time costs.
        for index in range(8):
            page.click(f'#palette li[data-label="{(21, 22)[index % 2]}"]')
            page.evaluate(IDLE_AFTER, [version(page), RENDER_TIMEOUT_MS])
            y = height * (0.6 + 0.04 * index)
            stroke(page, [(width * 0.2, y), (width * 0.5, y + 4), (width * 0.8, y)])
            page.evaluate("window.p2phdIdleAfter")
            if index == 0:
                continue
            body = page.locator("body")
            latencies.append(float(body.get_attribute("data-latency-ms")))
            server_ms.append(float(body.get_attribute("data-server-ms")))
            runtime_ms.append(float(body.get_attribute("data-runtime-ms")))
        labels, instances = session_maps(url, page)
        context.close()
    instances = instances.astype(np.int32)
    bare = bench_serve.bare_render(str(DEMO_MODEL), labels, instances, "cpu", precision=resolved)
    load = os.getloadavg()[0]
    print(
        f"\np2phd-serve latency at {height}x{width}, demo model, --precision {precision} "
        f"({resolved}), {os.cpu_count()} cores, load {load:.1f}: stroke end -> image on page "
        f"median {statistics.median(latencies):.0f} ms (server "
        f"{statistics.median(server_ms):.0f} ms, of which its Runtime.render call "
        f"{statistics.median(runtime_ms):.0f} ms); the same map's Runtime.render in the test "
        f"process {bare.p50_ms:.0f} ms"
    )
    assert len(latencies) == 7


def test_upload_tools_history_and_errors(page, server, tmp_path):
    scene = synthetic_scene(2, 64, 128)
    (tmp_path / "labelIds.png").write_bytes(png_bytes(scene.labels))
    (tmp_path / "instanceIds.png").write_bytes(png_bytes(scene.instances.astype(np.uint16)))
    page.click("#upload")  # nothing chosen yet: a message, no request
    expect(page.locator("#message")).to_have_class("error")
    page.set_input_files("#upload-labels", tmp_path / "labelIds.png")
    page.set_input_files("#upload-instances", tmp_path / "instanceIds.png")
    before = version(page)
    page.click("#upload")
    wait_idle(page, before)
    assert map_size(page) == (64, 128)
    labels, instances = session_maps(server, page)
    assert np.array_equal(labels, scene.labels) and np.array_equal(instances, scene.instances)

    # Pick the class under a building pixel.
    page.keyboard.press("i")
    y, x = np.argwhere(labels == 11)[0]
    click_map(page, x, y)
    expect(page.locator("#current-class-name")).to_have_text("building")

    # Fill the road with terrain.
    page.click('#palette li[data-label="22"]')
    page.keyboard.press("f")
    y, x = np.argwhere(labels == 7)[-1]
    before = version(page)
    click_map(page, x, y)
    wait_idle(page, before)
    filled, _ = session_maps(server, page)
    assert filled[y, x] == 22 and not (filled == 7).any()

    # The eraser paints its own class (sky here).
    page.keyboard.press("e")
    page.select_option("#eraser-class", "23")
    before = version(page)
    stroke(page, [(10, 60), (110, 60)])
    wait_idle(page, before)
    erased, _ = session_maps(server, page)
    assert erased[60, 60] == 23

    # Select a car, delete it with the Delete key, then duplicate another with the button.
    cars, areas = np.unique(instances[instances // 1000 == 26], return_counts=True)
    order = cars[np.argsort(-areas)]
    page.keyboard.press("v")
    ys, xs = np.nonzero(instances == order[0])
    click_map(page, xs[len(xs) // 2], ys[len(ys) // 2])
    expect(page.locator("#object-title")).to_contain_text(f"{order[0]}: car")
    before = version(page)
    page.keyboard.press("Delete")
    wait_idle(page, before)
    assert order[0] not in session_maps(server, page)[1]
    ys, xs = np.nonzero(instances == order[1])
    click_map(page, xs[len(xs) // 2], ys[len(ys) // 2])
    expect(page.locator("#object-title")).to_contain_text(f"{order[1]}: car")
    before_duplicate = session_maps(server, page)[1]
    before = version(page)
    page.click("#object-duplicate")
    wait_idle(page, before)
    _, duplicated = session_maps(server, page)

    new_ids = set(np.unique(duplicated).tolist()) - set(np.unique(before_duplicate).tolist())
    assert len(new_ids) == 1 and new_ids.pop() // 1000 == 26  # the copy, a car of its own

    # Undo with the button, redo with Ctrl+Y, reset to the upload.
    before = version(page)
    page.click("#undo")
    wait_idle(page, before)
    assert np.array_equal(session_maps(server, page)[1], before_duplicate)
    before = version(page)
    page.keyboard.press("Control+y")
    wait_idle(page, before)
    assert np.array_equal(session_maps(server, page)[1], duplicated)
    before = version(page)
    page.click("#reset")
    wait_idle(page, before)
    assert np.array_equal(session_maps(server, page)[0], scene.labels)

    # Drag a car with the select tool: it moves and takes a new instance id.
    ys, xs = np.nonzero(instances == order[2])
    y, x = ys[len(ys) // 2], xs[len(xs) // 2]
    click_map(page, x, y)
    expect(page.locator("#object-title")).to_contain_text(f"{order[2]}: car")
    before = version(page)
    stroke(page, [(x + 0.5, y + 0.5), (x + 6.5, y + 0.5)])
    wait_idle(page, before)
    _, dragged = session_maps(server, page)
    assert order[2] not in dragged and dragged[y, x + 6] // 1000 == 26

    page.locator("#opacity").fill("50")
    assert page.evaluate("$('render-labels').style.opacity") == "0.5"


def test_a_photo_styles_the_selected_object(browser, tmp_path):
    """A model with an encoder shows the photo control; a model without hides it."""
    model = save_tiny_feature_bundle(tmp_path / "tiny", encoder=True)
    scene = synthetic_scene(3, 64, 128)
    photo = tmp_path / "photo.png"
    photo.write_bytes(png_bytes(scene.image))
    args = (str(model), "--scene-size", "64x128", "--precision", "fp32")
    with serve_process(*args, log_path=tmp_path / "serve.log") as url:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.goto(url)
        wait_idle(page)
        page.fill("#scene-seed", "3")
        before = version(page)
        page.click("#new-scene")
        wait_idle(page, before)
        _, instances = session_maps(url, page)
        cars, areas = np.unique(instances[instances // 1000 == 26], return_counts=True)
        car = int(cars[np.argmax(areas)])
        ys, xs = np.nonzero(instances == car)
        page.keyboard.press("v")
        click_map(page, xs[len(xs) // 2], ys[len(ys) // 2])
        expect(page.locator("#photo-style-box")).to_be_visible()
        page.set_input_files("#photo-style-file", str(photo))
        before = version(page)
        page.click("#photo-style-apply")
        wait_idle(page, before)
        expect(page.locator("#object-title")).to_contain_text("style from a photo")
        session = page.locator("body").get_attribute("data-session")
        served = decode_png(httpx.get(f"{url}/api/sessions/{session}/render.png").content)
        assert np.array_equal(canvas_pixels(page, "render"), served)
        context.close()
    plain = save_tiny_feature_bundle(tmp_path / "plain")
    with serve_process(str(plain), log_path=tmp_path / "plain.log") as url:
        context = browser.new_context()
        page = context.new_page()
        page.goto(url)
        wait_idle(page)
        expect(page.locator("#photo-style-box")).to_be_hidden()
        context.close()
