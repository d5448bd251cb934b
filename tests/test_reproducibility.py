# SPDX-License-Identifier: Apache-2.0
"""The README's reproducibility contract on the CPU: an image depends on its map, its seed
and the model, nothing else: not the batch, the thread count, the process, nor whether the
CLI, Python, Ray or the server rendered it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from p2phd import checkpoint, ops
from p2phd.cli import render
from p2phd.data.synthetic import synthetic_scene
from p2phd.distributed import render_dataset
from p2phd.image_io import read_instance_map, read_label_map
from p2phd.runtime import Runtime
from p2phd.runtime.features import cluster_features
from tests.conftest import CITYSCAPES
from tests.dataset_helpers import write_test_dataset
from tests.serve_helpers import PACKAGE_ROOT, decode_png, png_bytes, serve_process

# Small enough that torch's own convolution takes its im2col + MKL path for one map (its
# first transposed convolution sees 128 x 8 x 16 values) and oneDNN for a batch.
SIZE = (64, 128)

FIRST_RENDER = """
import hashlib
from p2phd.data.synthetic import synthetic_scene
from p2phd.runtime import Runtime
scene = synthetic_scene(0, 64, 128)
image = Runtime("demo", device="cpu").render(scene.labels, scene.instances, output="float")
print(hashlib.sha256(image.tobytes()).hexdigest())
"""


@pytest.fixture(scope="module")
def demo() -> Runtime:
    return Runtime("demo", device="cpu")


@pytest.fixture(scope="module")
def demo_bf16() -> Runtime:
    return Runtime("demo", device="cpu", precision="bf16")


@pytest.fixture(scope="module")
def maps() -> tuple[np.ndarray, np.ndarray]:
    scenes = [synthetic_scene(seed, *SIZE) for seed in range(4)]
    return np.stack([s.labels for s in scenes]), np.stack([s.instances for s in scenes])


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


@pytest.mark.parametrize("seed", [0, [5, 6, 7, 8]], ids=["one seed", "a seed per map"])
@pytest.mark.parametrize("size", [SIZE, (40, 72)], ids=["64x128", "40x72 padded"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_map_alone_and_in_a_batch_of_four_give_equal_bytes(request, seed, size, precision):
    demo = request.getfixturevalue("demo" if precision == "fp32" else "demo_bf16")
    scenes = [synthetic_scene(index, *size) for index in range(4)]
    labels = np.stack([s.labels for s in scenes])
    instances = np.stack([s.instances for s in scenes])
    seeds = seed if isinstance(seed, list) else [seed] * 4
    for output in ("uint8", "float"):
        batch = demo.render(labels, instances, seed=seed, output=output)
        for index in range(4):
            alone = demo.render(labels[index], instances[index], seed=seeds[index], output=output)
            assert digest(alone) == digest(batch[index]), f"map {index}, {output}"


def test_a_sequence_of_seeds_has_one_seed_per_map(demo, maps):
    labels, instances = maps
    with pytest.raises(ValueError, match="3 seeds for 4 maps"):
        demo.render(labels, instances, seed=[1, 2, 3])
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        demo.render(labels, instances, seed=[1, 2, 3, -4])


def test_one_and_two_torch_threads_give_equal_bytes(maps):
    """The torch backend on 1 and 2 threads, on one small map (the shape PyTorch itself
    would send to its im2col + MKL path). The OpenVINO default's thread counts are tested in
    test_openvino_backend: torch's thread count does not reach it."""
    labels, instances = maps
    torch_demo = Runtime("demo", device="cpu", backend="torch")
    threads = torch.get_num_threads()
    try:
        renders = []
        for count in (1, 2):
            torch.set_num_threads(count)
            renders.append(torch_demo.render(labels[0], instances[0], output="float"))
    finally:
        torch.set_num_threads(threads)
    assert digest(renders[0]) == digest(renders[1])


def test_one_small_map_gets_the_sums_of_a_batch(demo, maps):
    """PyTorch's convolution sums a small single map in another order (im2col + MKL sgemm,
    whose thread count MKL may change at run time) than a batch (oneDNN); the torch backend
    runs both in oneDNN, so a single map's floats are those torch gives it in a batch."""
    labels, instances = maps
    generator = checkpoint.load("demo").generator.eval()
    ids = torch.from_numpy(instances[:2].astype(np.int64))
    features = cluster_features(ids, demo.clusters, demo.config.feat_num, seed=0)
    x = ops.generator_input(
        torch.from_numpy(labels[:2]), ids, demo.config.label_nc, features=features
    )
    with torch.inference_mode():
        in_batch = generator(x)[0].numpy()
    torch_demo = Runtime("demo", device="cpu", backend="torch")
    alone = torch_demo.render(labels[0], instances[0], output="float")
    assert digest(alone) == digest(in_batch)


def test_first_renders_of_fresh_processes_have_one_hash(demo, maps):
    """Each process's first render, on the default threads, on one thread, and with MKL's
    run-time choice of its thread count off (MKL_DYNAMIC=FALSE, MKL's own condition for
    reproducible results), equals this process's render after many others."""
    labels, instances = maps
    expected = digest(demo.render(labels[0], instances[0], output="float"))
    environments = ({}, {"OMP_NUM_THREADS": "1"}, {"MKL_DYNAMIC": "FALSE"})
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", FIRST_RENDER],
            env={**os.environ, "PYTHONPATH": PACKAGE_ROOT, **extra},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for extra in environments
    ]
    for extra, process in zip(environments, processes, strict=True):
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert out.strip() == expected, f"first render with {extra or 'the defaults'}"


def test_cli_python_ray_and_server_give_equal_bytes(tmp_path, demo, ray_cluster):
    """One map and seed through the four ways of rendering it: the same PNG bytes' pixels."""
    data = write_test_dataset(tmp_path / "data", 2, *SIZE)
    cli, ray = tmp_path / "cli", tmp_path / "ray"
    model = str(render.DEMO_MODEL)
    assert render.main([model, str(data), "--out", str(cli), "--seed", "3", "--device", "cpu"]) == 0
    summary = render_dataset(render.DEMO_MODEL, data, ray, seed=3, progress=None, actors=1)
    assert summary.rendered == 2 and not summary.failures
    server_args = (model, "--device", "cpu", "--precision", "fp32", "--scene-size", "64x128")
    with serve_process(*server_args, log_path=tmp_path / "serve.log") as url:
        for label_path in sorted((data / "test_label").glob("*.png")):
            instance_path = data / "test_inst" / label_path.name.replace("label", "instance")
            labels, instances = read_label_map(label_path), read_instance_map(instance_path)
            python = demo.render(labels, instances, seed=3)
            name = label_path.name.replace("_gtFine_labelIds", "")
            files = {
                "labels": ("l.png", png_bytes(labels), "image/png"),
                "instances": ("i.png", png_bytes(instances), "image/png"),
            }
            response = httpx.post(f"{url}/api/render", files=files, data={"seed": "3"}, timeout=120)
            assert response.status_code == 200, response.text
            for way, image in (
                ("CLI", np.array(Image.open(cli / name))),
                ("Ray", np.array(Image.open(ray / name))),
                ("server", decode_png(response.content)),
            ):
                assert digest(image) == digest(python), f"{name}: {way} differs from Python"
        # The editor's new scene 0 is what p2phd-render --demo --seed 0 renders.
        session = httpx.post(f"{url}/api/sessions", json={"seed": 0}, timeout=120).json()
        editor = httpx.get(f"{url}/api/sessions/{session['id']}/render.png", timeout=120)
        demo_png = tmp_path / "demo.png"
        argv = ["--demo", str(demo_png), "--size", "64x128", "--seed", "0", "--device", "cpu"]
        assert render.main(argv) == 0
        assert digest(decode_png(editor.content)) == digest(np.array(Image.open(demo_png)))


def test_the_readme_python_example_writes_the_cli_image(tmp_path, cityscapes):
    """The Quickstart's CLI line and its Python lines, run as written, write one image."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1]
    cli_line = quickstart.split("```bash\n", 1)[1].splitlines()[0]
    python_block = quickstart.split("```python\n", 1)[1].split("```", 1)[0]
    for folder in ("test_label", "test_inst"):
        (tmp_path / folder).symlink_to(CITYSCAPES / folder)
    (tmp_path / "cli").mkdir()
    argv = cli_line.split()[1:]
    assert argv[-2] == "--out"
    cwd = os.getcwd()
    os.chdir(tmp_path)  # both read test_label/... from here, as the README says
    try:
        assert render.main([*argv[:-1], f"cli/{argv[-1]}"]) == 0
        exec(compile(python_block, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    written = np.array(Image.open(tmp_path / argv[-1]))
    assert digest(written) == digest(np.array(Image.open(tmp_path / "cli" / argv[-1])))
