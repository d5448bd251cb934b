# SPDX-License-Identifier: Apache-2.0
"""Nothing half-written outlives the next run: a writer of a user's folder killed by SIGKILL
(a real process, its workers too, killed while one of its temporaries exists) leaves
temporaries, and the next run of the same command removes them, so that the folder holds
only finished outputs; a live writer's temporaries stay (test_atomic_writes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from p2phd.map_jobs import MANIFEST_NAME
from tests.dataset_helpers import write_test_dataset
from tests.kill_helpers import (
    kill_while_writing,
    killed_half_way,
    run_p2phd,
    temporaries,
    writing_half_way,
)

SIZE = "64x128"
SCENES = 60


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("maps")
    run_p2phd("synth", str(root), "--size", SIZE, "--count", str(SCENES), "--phase", "test")
    return root


def _pngs(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".png")


def test_a_killed_folder_render_leaves_no_temporary_after_the_next_run(
    dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ["demo", str(dataset), "--out", str(out)]
    left = kill_while_writing("render", args, [out], lambda: bool(_pngs(out)))
    assert left, "the kill left no temporary: nothing to test"
    expected = sorted(f"scene_{seed:06d}.png" for seed in range(SCENES))
    with writing_half_way(out / "live.png"):  # a writer that still runs keeps its own
        live = [p.name for p in set(temporaries([out])) - set(left)]
        assert len(live) == 1
        run_p2phd("render", *args)
        assert sorted(p.name for p in out.iterdir()) == sorted([*expected, MANIFEST_NAME, *live])
    for name in expected:
        with Image.open(out / name) as image:
            image.load()


def test_a_killed_synth_leaves_no_temporary_after_the_next_run(tmp_path: Path) -> None:
    root = tmp_path / "data"
    folders = [root / f"train_{kind}" for kind in ("label", "inst", "img")]
    args = [str(root), "--size", SIZE, "--count", "60", "--workers", "2"]
    left = kill_while_writing("synth", args, folders, lambda: bool(_pngs(folders[2])))
    assert left, "the kill left no temporary: nothing to test"
    run_p2phd("synth", *args)
    assert temporaries(folders) == []
    assert _pngs(folders[0]) == _pngs(folders[1]) == _pngs(folders[2])


def test_a_killed_openvino_export_leaves_no_temporary_after_the_next_run(
    tmp_path: Path,
) -> None:
    pytest.importorskip("openvino")
    out = tmp_path / "demo.xml"
    args = ["demo", "--to", "openvino", "--size", SIZE, "--out", str(out), "--no-verify"]

    def converting() -> bool:  # the ONNX file is written in a folder beside the IR
        return any(path.is_dir() for path in tmp_path.iterdir())

    left = kill_while_writing("export", args, [tmp_path], converting)
    assert left, "the kill left no temporary: nothing to test"
    run_p2phd("export", *args)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.bin", "demo.xml", "demo.xml.json"]


def test_a_killed_triton_export_leaves_no_version_folder_after_the_next_run(
    tmp_path: Path,
) -> None:
    pytest.importorskip("onnx")
    repo, model = tmp_path / "repo", tmp_path / "demo.onnx"
    left = killed_half_way(repo / "demo" / "1", folder=True)
    assert left
    args = ["demo", "--to", "onnx", "--size", SIZE, "--out", str(model), "--no-verify"]
    run_p2phd("export", *args, "--triton-repo", str(repo), "--triton-name", "demo")
    assert sorted(p.name for p in (repo / "demo").iterdir()) == ["1", "config.pbtxt"]


def test_a_killed_checkpoint_save_leaves_no_temporary_after_the_next_training(
    tmp_path: Path,
) -> None:
    from p2phd.train import Trainer
    from tests.train_helpers import tiny_options, write_scenes

    run_dir = tmp_path / "run"
    # An epoch's checkpoint is saved once: a resumed run never saves epoch 1 again.
    left = killed_half_way(*(run_dir / f"1_net_{net}.pth" for net in ("G", "D")))
    assert len(left) == 2
    scenes = write_scenes(tmp_path / "data", 2)
    Trainer(tiny_options(scenes, tmp_path, "run", max_iters=2)).train()
    assert temporaries([run_dir, run_dir / "samples"]) == []


@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")
def test_a_killed_ray_render_leaves_no_temporary_after_the_resumed_run(
    tmp_path: Path, ray_cluster
) -> None:
    from p2phd.cli import render

    maps, out = write_test_dataset(tmp_path / "maps", 4, 64, 128), tmp_path / "out"
    args = ["demo", str(maps), "--out", str(out), "--ray", "--actors", "1"]
    assert render.main(args) == 0
    finished = sorted(p.name for p in out.iterdir())
    # Killed while writing a lost output: the resumed run renders it and removes the rest.
    (out / finished[0]).unlink()
    assert killed_half_way(out / finished[0])
    assert render.main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == finished
    # Killed while rewriting an output that exists: nothing to render, the rest removed.
    assert killed_half_way(out / finished[1])
    assert render.main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == finished


@pytest.mark.parametrize("kind", ["one map", "demo"])
def test_a_killed_one_image_render_leaves_no_temporary_after_the_next_run(
    dataset: Path, tmp_path: Path, kind: str
) -> None:
    out = tmp_path / "out.png"
    assert killed_half_way(out)
    if kind == "demo":
        run_p2phd("render", "--demo", str(out), "--size", SIZE)
    else:
        run_p2phd(
            "render", "demo", str(dataset / "test_label" / "scene_000000.png"), "--out", str(out)
        )
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_a_killed_preview_leaves_no_temporary_after_the_next_run(tmp_path: Path) -> None:
    out = tmp_path / "preview.png"
    assert killed_half_way(out)
    run_p2phd("preview", "--out", str(out))
    assert [p.name for p in tmp_path.iterdir()] == ["preview.png"]


def test_a_killed_bench_leaves_no_temporary_beside_its_json_after_the_next_run(
    tmp_path: Path,
) -> None:
    out = tmp_path / "render.json"
    assert killed_half_way(out)
    run_p2phd(
        "bench", "render", "--arch", "tiny", "--device", "cpu", "--sizes", "16x40",
        "--precisions", "fp32", "--runs", "1", "--warmup", "1", "--json", str(out),
    )  # fmt: skip
    assert [p.name for p in tmp_path.iterdir()] == ["render.json"]
