# SPDX-License-Identifier: Apache-2.0
"""p2phd.distributed on a real local Ray cluster, one for the whole test run: the 15
Cityscapes samples through `p2phd-render --ray` must equal the single-process render bit for
bit, a resumed run renders nothing new, and a corrupt map fails alone."""

from __future__ import annotations

import faulthandler
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from p2phd import checkpoint, map_jobs
from p2phd.cli import render
from p2phd.distributed import render_dataset
from p2phd.map_jobs import MANIFEST_NAME
from p2phd.models import GeneratorConfig, build_generator
from tests.conftest import CITYSCAPES
from tests.dataset_helpers import write_test_dataset

ray = pytest.importorskip("ray", reason="needs the p2phd[ray] extra")
# Ray Data warns about its own deprecated settings when it copies its context.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")

# A generator small enough to render 2048 x 1024 maps in about a second on a 2-core CPU.
TINY = GeneratorConfig(ngf=2, n_downsample_global=1, n_blocks_global=1)
# Longest any one test may take before the run is stopped with every thread's traceback: a
# deadlocked actor pool fails the run instead of hanging it.
WATCHDOG_S = 600


@pytest.fixture(autouse=True)
def watchdog():
    faulthandler.dump_traceback_later(WATCHDOG_S, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny"
    checkpoint.save_bundle(
        checkpoint.LoadedModel(config=TINY, generator=build_generator(TINY)), path
    )
    return path


@pytest.fixture(scope="module")
def cityscapes_root() -> Path:
    if not (CITYSCAPES / "test_label").is_dir() or not (CITYSCAPES / "test_inst").is_dir():
        pytest.skip(f"Cityscapes samples not found under {CITYSCAPES}")
    return CITYSCAPES


@pytest.fixture(scope="module")
def small_cityscapes(cityscapes_root, tmp_path_factory) -> Path:
    """The samples scaled to 512 x 256 (nearest, as the public code scales maps), in the
    public layout, for the demo model."""
    root = tmp_path_factory.mktemp("cityscapes_512")
    for folder in ("test_label", "test_inst"):
        (root / folder).mkdir()
        for path in sorted((cityscapes_root / folder).glob("*.png")):
            with Image.open(path) as image:
                image.resize((512, 256), Image.NEAREST).save(root / folder / path.name)
    return root


def read_outputs(folder: Path) -> dict[str, np.ndarray]:
    return {path.name: np.array(Image.open(path)) for path in sorted(folder.glob("*.png"))}


def assert_same_renders(local: Path, distributed: Path, count: int) -> None:
    expected, actual = read_outputs(local), read_outputs(distributed)
    assert len(expected) == count
    assert sorted(actual) == sorted(expected)
    for name, image in expected.items():
        assert np.array_equal(actual[name], image), f"{name} differs from the local render"


def test_tiny_model_on_ray_equals_the_local_render(
    tiny_bundle, cityscapes_root, tmp_path, capsys, ray_cluster
):
    local, distributed = tmp_path / "local", tmp_path / "ray"
    assert render.main([str(tiny_bundle), str(cityscapes_root), "--out", str(local)]) == 0
    arguments = [str(tiny_bundle), str(cityscapes_root), "--out", str(distributed)]
    assert render.main([*arguments, "--ray", "--actors", "2", "--batch-size", "2"]) == 0
    error = capsys.readouterr().err
    assert "15 of 15 maps rendered" in error and "images/s" in error
    assert "2 CPU actors" in error
    assert_same_renders(local, distributed, 15)


def test_demo_model_on_ray_equals_the_local_render_and_resumes(
    small_cityscapes, tmp_path, capsys, ray_cluster
):
    """The demo model draws instance styles: equal outputs mean the styles follow the map,
    not the actor or batch that rendered it."""
    local, distributed = tmp_path / "local", tmp_path / "ray"
    demo = str(render.DEMO_MODEL)
    assert render.main([demo, str(small_cityscapes), "--out", str(local), "--seed", "7"]) == 0
    arguments = [demo, str(small_cityscapes), "--out", str(distributed), "--seed", "7", "--ray"]
    assert render.main([*arguments, "--actors", "2", "--batch-size", "3"]) == 0
    assert_same_renders(local, distributed, 15)

    # Resumed: two outputs lost; only those two are rendered, the others stay untouched.
    written = {path.name: path.stat().st_mtime_ns for path in distributed.glob("*.png")}
    lost = sorted(written)[:2]
    for name in lost:
        (distributed / name).unlink()
    capsys.readouterr()
    assert render.main(arguments) == 0
    assert "2 of 15 maps rendered" in capsys.readouterr().err
    assert_same_renders(local, distributed, 15)
    # The manifest: a line per output written, the resumed two appended; the records of
    # the local render's manifest, but for where the files are.
    records = [json.loads(line) for line in (distributed / MANIFEST_NAME).read_text().splitlines()]
    assert sorted(r["output"] for r in records[:15]) == sorted(written)
    assert [r["output"] for r in records[15:]] == lost
    local_records = (local / MANIFEST_NAME).read_text().splitlines()
    assert {json.dumps({**r, "model": None}, sort_keys=True) for r in records} == {
        json.dumps({**json.loads(line), "model": None}, sort_keys=True) for line in local_records
    }
    for name, mtime in written.items():
        if name not in lost:
            assert (distributed / name).stat().st_mtime_ns == mtime, f"{name} was rewritten"

    # Resumed with every output there: nothing rendered, no file touched.
    written = {path.name: path.stat().st_mtime_ns for path in distributed.iterdir()}
    assert render.main(arguments) == 0
    assert "nothing to render" in capsys.readouterr().err
    assert {path.name: path.stat().st_mtime_ns for path in distributed.iterdir()} == written
    assert not list(distributed.glob(".*"))  # no temporary file left behind


def test_the_model_named_demo_is_the_bundled_one_on_ray_too(
    tmp_path, capsys, monkeypatch, ray_cluster
):
    """`p2phd-render demo DATASET --ray` renders with the demo model shipped with p2phd, as
    the local render does, not with a folder named demo in the working directory."""
    dataset = write_test_dataset(tmp_path / "data", 2, 64, 128)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").mkdir()  # not a model: must not be what "demo" names
    local, distributed = tmp_path / "local", tmp_path / "ray"
    assert render.main(["demo", str(dataset), "--out", str(local)]) == 0
    arguments = ["demo", str(dataset), "--out", str(distributed), "--ray", "--actors", "1"]
    assert render.main(arguments) == 0, capsys.readouterr().err
    assert_same_renders(local, distributed, 2)


def test_a_corrupt_map_is_reported_and_the_rest_finish(small_cityscapes, tmp_path, ray_cluster):
    labels = sorted((small_cityscapes / "test_label").glob("*.png"))[:3]
    pairs = [
        (path, small_cityscapes / "test_inst" / path.name.replace("label", "instance"))
        for path in labels
    ]
    corrupt = tmp_path / "broken_gtFine_labelIds.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n not really a PNG")
    pairs.append((corrupt, pairs[0][1]))
    out = tmp_path / "out"
    summary = render_dataset(render.DEMO_MODEL, pairs, out, progress=None, actors=1)
    assert summary.rendered == 3 and summary.maps == 4
    assert [path for path, _ in summary.failures] == [corrupt]
    assert "cannot read the label map" in summary.failures[0][1]
    assert sorted(path.name for path in out.glob("*.png")) == sorted(
        map_jobs.output_name(path) for path, _ in pairs[:3]
    )
    assert any(line.startswith(f"failed: {corrupt}") for line in summary.lines())
