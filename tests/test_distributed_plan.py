# SPDX-License-Identifier: Apache-2.0
"""p2phd.distributed without a Ray cluster: the pool sized from the cluster's resources, the
Ray Data stage arguments, the seed of every map and job names, the --ray flags, and the
message when Ray is missing."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from p2phd import map_jobs
from p2phd.cli import render
from p2phd.distributed import plan_maps, plan_pool
from p2phd.distributed.pool import IO_CPUS, IO_RESERVE, render_stage_arguments
from p2phd.image_io import read_instance_map, read_label_map
from p2phd.runtime import Runtime
from tests.dataset_helpers import write_test_dataset


@pytest.fixture
def dataset(tmp_path):
    """Three small scenes in the public layout, Cityscapes names."""
    return write_test_dataset(tmp_path / "data", 3, 32, 64)


@pytest.mark.parametrize(
    "resources, actors, device, expected",
    [
        ({"CPU": 2}, None, "auto", (1, 0)),  # the 2-core CI machine
        ({"CPU": 2}, 2, "auto", (2, 0)),
        ({"CPU": 2}, 5, "auto", (2, 0)),  # one actor per core at most
        ({"CPU": 64}, None, "auto", (15, 0)),
        ({"CPU": 64, "GPU": 8}, None, "auto", (8, 1)),
        ({"CPU": 64, "GPU": 8}, 16, "auto", (8, 1)),
        ({"CPU": 4, "GPU": 8}, None, "cuda", (8, 1)),  # few CPUs: GPU actors share them
        ({"CPU": 64, "GPU": 8}, 4, "cpu", (4, 0)),
    ],
)
def test_pool_leaves_room_for_a_read_and_a_write_task(resources, actors, device, expected):
    plan = plan_pool(resources, actors, device)
    assert (plan.actors, plan.gpus_per_actor) == expected
    # The actors never hold the CPUs one read and one write task need: no stall.
    assert plan.actors * plan.cpus_per_actor + 2 * IO_CPUS <= resources["CPU"] + 1e-9
    assert IO_RESERVE == 2 * IO_CPUS
    assert plan.threads_per_actor >= 1
    assert (plan.note is not None) == (actors is not None and actors > plan.actors)


def test_pool_refuses_what_the_cluster_cannot_do():
    with pytest.raises(ValueError, match="has no GPU"):
        plan_pool({"CPU": 8}, None, "cuda")
    with pytest.raises(ValueError, match="at least 1"):
        plan_pool({"CPU": 8}, 0, "auto")
    with pytest.raises(ValueError, match="Ray gives each actor its GPU"):
        plan_pool({"CPU": 8, "GPU": 2}, None, "cuda:1")
    with pytest.raises(ValueError, match="0.5 CPUs"):
        plan_pool({"CPU": 0.5}, None, "auto")


def test_render_stage_arguments(tmp_path):
    pytest.importorskip("ray", reason="needs the p2phd[ray] extra")
    from ray.data import ActorPoolStrategy

    gpu = plan_pool({"CPU": 32, "GPU": 4}, None, "auto")
    arguments = render_stage_arguments(gpu, tmp_path / "m", {"backend": "torch"}, {7: 1}, 8)
    assert arguments["num_gpus"] == 1 and arguments["num_cpus"] == 1.0
    assert isinstance(arguments["compute"], ActorPoolStrategy)
    assert arguments["compute"].min_size == arguments["compute"].max_size == 4
    assert arguments["batch_size"] == 8
    assert arguments["fn_constructor_kwargs"] == {
        "model": str(tmp_path / "m"),
        "runtime_options": {"backend": "torch", "device": "cuda"},
        "threads": 1,
        "style": {7: 1},
    }
    cpu = plan_pool({"CPU": 2}, 2, "auto")
    arguments = render_stage_arguments(cpu, tmp_path / "m", {}, None, 4)
    assert "num_gpus" not in arguments and arguments["num_cpus"] == 0.75
    assert arguments["fn_constructor_kwargs"]["runtime_options"] == {"device": "cpu"}
    with pytest.raises(ValueError, match="batch size"):
        render_stage_arguments(cpu, tmp_path / "m", {}, None, 0)


def test_plan_maps_names_outputs_as_the_local_render(dataset, tmp_path):
    out = tmp_path / "out"
    jobs = plan_maps(dataset, out)
    assert jobs == map_jobs.plan_jobs(dataset, out, None, "test")
    assert [job.out.name for job in jobs] == [f"city_{s:06d}_000019.png" for s in range(3)]
    pairs = [(job.labels, job.instances) for job in jobs]
    assert plan_maps(pairs, out) == jobs
    with pytest.raises(ValueError, match="would both be written to"):
        plan_maps([*pairs, (tmp_path / "city_000000_000019_gtFine_labelIds.png", None)], out)
    with pytest.raises(ValueError, match="not a folder"):
        plan_maps(tmp_path / "missing", out)


def test_local_render_draws_styles_per_map(dataset, tmp_path):
    """Without --seed the demo model's styles are the same from run to run and do not depend
    on which other maps are rendered with it."""
    demo = str(render.DEMO_MODEL)
    runs = []
    for run in range(2):
        out = tmp_path / f"run{run}"
        assert render.main([demo, str(dataset), "--out", str(out), "--device", "cpu"]) == 0
        runs.append({p.name: np.array(Image.open(p)) for p in sorted(out.glob("*.png"))})
    assert runs[0].keys() == runs[1].keys()
    for name, image in runs[0].items():
        assert np.array_equal(image, runs[1][name]), name
    labels = sorted((dataset / "test_label").iterdir())[1]
    alone = tmp_path / "alone.png"
    assert render.main([demo, str(labels), "--out", str(alone), "--device", "cpu"]) == 0
    assert np.array_equal(np.array(Image.open(alone)), runs[0]["city_000001_000019.png"])


def test_local_render_gives_every_map_the_seed_of_the_python_api(dataset, tmp_path):
    """The same map under another file name gives the same image: every map takes --seed,
    as Runtime.render(seed=) does, whatever its name."""
    labels = sorted((dataset / "test_label").iterdir())[0]
    instances = sorted((dataset / "test_inst").iterdir())[0]
    images = []
    for name in ("a_labelIds.png", "b_labelIds.png"):
        (tmp_path / name).write_bytes(labels.read_bytes())
        out = tmp_path / f"{name}.out.png"
        argv = [str(render.DEMO_MODEL), str(tmp_path / name), "--out", str(out), "--seed", "5"]
        assert render.main([*argv, "--instances", str(instances), "--device", "cpu"]) == 0
        images.append(np.array(Image.open(out)))
    assert np.array_equal(images[0], images[1])
    runtime = Runtime("demo", device="cpu")
    expected = runtime.render(read_label_map(labels), read_instance_map(instances), seed=5)
    assert np.array_equal(images[0], expected)


def test_ray_flags_need_ray(dataset, tmp_path):
    out = str(tmp_path / "out")
    usage_errors = (
        ["--actors", "2"],
        ["--batch-size", "2"],
        ["--overwrite"],
        ["--ray", "--actors", "0"],
        ["--ray", "--resize", "64"],
    )
    for flags in usage_errors:
        assert render.main([str(render.DEMO_MODEL), str(dataset), "--out", out, *flags]) == 2


def test_ray_missing_says_how_to_install_it(dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    arguments = [str(render.DEMO_MODEL), str(dataset), "--out", str(tmp_path / "o"), "--ray"]
    assert render.main(arguments) == 1
    error = capsys.readouterr().err
    assert 'pip install "p2phd[ray]"' in error and "Traceback" not in error
    assert len(error.strip().splitlines()) == 1
