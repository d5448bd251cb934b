# SPDX-License-Identifier: Apache-2.0
"""Which maps a folder render takes and where their images go (issue 24): outputs that would
share a name are refused before anything renders (locally and on Ray, through the one
planner); a flat Cityscapes folder pairs its *_labelIds with its *_instanceIds; file names
that are not UTF-8 render like any other."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from p2phd import checkpoint
from p2phd.cli import render
from p2phd.data.synthetic import synthetic_scene
from p2phd.map_jobs import OutputCollision, plan_jobs
from p2phd.models import GeneratorConfig, build_generator
from tests.dataset_helpers import write_test_dataset

TINY = GeneratorConfig(ngf=4, n_downsample_global=2, n_blocks_global=1)
SIZE = (24, 40)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny"
    model = checkpoint.LoadedModel(config=TINY, generator=build_generator(TINY))
    checkpoint.save_bundle(model, path)
    return path


def _write_pair(folder: Path, label_name: str, instance_name: str | None, seed: int = 0) -> None:
    scene = synthetic_scene(seed, *SIZE)
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(scene.labels).save(folder / label_name)
    if instance_name is not None:
        Image.fromarray(scene.instances.astype(np.uint16)).save(folder / instance_name)


def _flat_folder(root: Path, names: list[str]) -> Path:
    for seed, name in enumerate(names):
        _write_pair(root, name, None, seed)
    return root


@pytest.mark.parametrize(
    "names",
    [
        ["a.png", "a_gtFine.png", "a_gtFine_labelIds.png"],
        ["a_labelIds.png", "a.png"],
        ["Street.png", "street.png"],
        ["x.PNG", "x.png"],
    ],
)
def test_outputs_that_share_a_name_are_refused_before_rendering(
    bundle, tmp_path, names, capsys
) -> None:
    folder = _flat_folder(tmp_path / "maps", names)
    if len(os.listdir(folder)) < len(names):
        pytest.skip("this file system folds case")
    out = tmp_path / "out"
    for ray in ([], ["--ray", "local"]):
        code = render.main([str(bundle), str(folder), "--out", str(out), *ray])
        err = capsys.readouterr().err
        assert code == 2, err
        lines = err.splitlines()
        assert len(lines) == 1 and "would both be written to" in lines[0], err
        assert not out.exists()


def test_the_planner_refuses_names_that_differ_only_in_case(tmp_path) -> None:
    folder = tmp_path / "maps"
    folder.mkdir()
    for name in ("Berlin_1.png", "berlin_1_labelIds.png"):
        (folder / name).write_bytes(b"")
    with pytest.raises(OutputCollision, match="Berlin_1.png and berlin_1_labelIds.png"):
        plan_jobs(folder, tmp_path / "out", None, "test")


def test_a_flat_cityscapes_folder_pairs_label_and_instance_maps(bundle, tmp_path) -> None:
    dataset = write_test_dataset(tmp_path / "data", 2, *SIZE)
    flat = tmp_path / "flat"
    flat.mkdir()
    for folder in ("test_label", "test_inst"):
        for path in (dataset / folder).iterdir():
            shutil.copy(path, flat / path.name)
    jobs = plan_jobs(flat, tmp_path / "out", None, "test")
    assert [(job.labels.name, job.instances and job.instances.name) for job in jobs] == [
        (f"city_{i:06d}_000019_gtFine_labelIds.png", f"city_{i:06d}_000019_gtFine_instanceIds.png")
        for i in range(2)
    ]
    out = tmp_path / "out"
    assert render.main([str(bundle), str(flat), "--out", str(out)]) == 0
    from_flat = {p.name: np.array(Image.open(p)) for p in out.glob("*.png")}
    assert render.main([str(bundle), str(dataset), "--out", str(tmp_path / "layout")]) == 0
    from_layout = {p.name: np.array(Image.open(p)) for p in (tmp_path / "layout").glob("*.png")}
    assert from_flat.keys() == from_layout.keys()
    assert all(np.array_equal(from_flat[k], from_layout[k]) for k in from_flat)


@pytest.mark.skipif(os.name != "posix", reason="byte file names are a POSIX matter")
def test_a_map_whose_name_is_not_utf8_renders(bundle, tmp_path, capsys) -> None:
    folder = tmp_path / "maps"
    stem = os.fsdecode(b"caf\xe9")  # Latin-1, not UTF-8: a surrogate escape in Python
    try:
        _write_pair(folder, f"{stem}_labelIds.png", f"{stem}_instanceIds.png")
    except (UnicodeEncodeError, OSError):
        pytest.skip("this file system takes UTF-8 names only")
    out = tmp_path / "out"
    code = render.main([str(bundle), str(folder), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "caf\\udce9_labelIds.png" in err  # named, escaped
    # The image, and the manifest of what the render wrote.
    assert sorted(os.listdir(os.fsencode(out))) == [b"caf\xe9.png", b"p2phd-manifest.jsonl"]
    code = render.main([str(bundle), str(folder), "--out", str(tmp_path / "ray"), "--ray"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and "UTF-8 file names only" in err, err
    one = tmp_path / os.fsdecode(b"one-\xe9.png")
    code = render.main([str(bundle), str(folder / f"{stem}_labelIds.png"), "--out", str(one)])
    assert code == 0, capsys.readouterr().err
    assert one.is_file()


def test_an_output_that_would_replace_an_input_map_is_refused(bundle, tmp_path, capsys) -> None:
    folder = _flat_folder(tmp_path / "maps", ["a.png", "b.png"])
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    single = folder / "a.png"
    for argv in ([str(folder), "--out", str(folder)], [str(single), "--out", str(single)]):
        code = render.main([str(bundle), *argv])
        err = capsys.readouterr().err
        assert code == 2 and len(err.splitlines()) == 1 and "would replace" in err, err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
