# SPDX-License-Identifier: Apache-2.0
"""Hostile or broken checkpoints and interrupted saves (issue 19), model names and file modes
(issue 14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import p2phd
from p2phd import checkpoint
from p2phd.checkpoint import CheckpointError, LoadedModel
from p2phd.models import GeneratorConfig, build_generator

# The p2phd under test, for the subprocesses.
PACKAGE_ROOT = Path(p2phd.__file__).resolve().parents[1]
SMALL = GeneratorConfig(ngf=4, n_downsample_global=1, n_blocks_global=1, label_nc=3)
FEATURES = GeneratorConfig(
    ngf=4, n_downsample_global=1, n_blocks_global=1, label_nc=3, instance_feat=True
)


def _model(config: GeneratorConfig = SMALL, seed: int = 0, **parts) -> LoadedModel:
    torch.manual_seed(seed)
    return LoadedModel(config=config, generator=build_generator(config), **parts)


def _rewrite_description(path: Path, change) -> None:
    """Edits the JSON description of a one-file bundle, keeping its tensors (and digest)."""
    with safe_open(str(path), framework="pt") as f:
        description = json.loads(f.metadata()["p2phd"])
        tensors = {key: f.get_tensor(key) for key in f.keys()}
    change(description)
    save_file(tensors, str(path), metadata={"p2phd": json.dumps(description)})


# --- item 4: an interrupted overwrite keeps the old bundle or the new one ----------------------

_INTERRUPT_SCRIPT = r"""
import json, os, random, signal, sys, time
import torch
torch.set_num_threads(1)
import p2phd
from p2phd import checkpoint
from p2phd.models import GeneratorConfig, build_generator

config = GeneratorConfig(ngf=4, n_downsample_global=1, n_blocks_global=1, label_nc=3)
models = []
for seed in (0, 1):
    torch.manual_seed(seed)
    models.append(checkpoint.LoadedModel(config=config, generator=build_generator(config)))
target, runs = sys.argv[1], int(sys.argv[2])
checkpoint.save_bundle(models[0], target)
began = time.perf_counter()
checkpoint.save_bundle(models[1], target)
save_s = time.perf_counter() - began
rng = random.Random(0)
broken, left = [], []
for run in range(runs):
    sig = (signal.SIGTERM, signal.SIGINT)[run % 2]
    ready, tell = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready)
            for i in range(10**9):
                checkpoint.save_bundle(models[i % 2], target)
                if i == 0:
                    os.write(tell, b"1")  # saving at full speed now
        finally:
            os._exit(1)
    os.close(tell)
    os.read(ready, 1)
    os.close(ready)
    time.sleep(rng.uniform(0, 2 * save_s))
    os.kill(pid, sig)
    os.waitpid(pid, 0)
    try:
        checkpoint.load_bundle(target)
    except checkpoint.CheckpointError as error:
        broken.append(f"{signal.Signals(sig).name}: {error}")
    for name in os.listdir(target):
        if name.startswith("."):
            left.append(f"{signal.Signals(sig).name}: {name}")
            os.unlink(os.path.join(target, name))
print(json.dumps({"broken": broken, "left": left, "save_s": save_s}))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_interrupted_directory_saves_keep_a_whole_bundle(tmp_path: Path) -> None:
    # A child saves in a loop; it is killed (SIGTERM, SIGINT by turns) at random moments.
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _INTERRUPT_SCRIPT, str(tmp_path / "bundle"), "40"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["broken"] == [], outcome["broken"][:3]
    assert outcome["left"] == [], outcome["left"][:3]


# --- item 5: the description is checked against the tensors before anything is built -----------


@pytest.mark.parametrize(
    "field, value",
    [("n_blocks_global", 10_000_000), ("n_downsample_global", 200), ("ngf", 5)],
)
def test_description_that_lies_about_the_weights_is_refused_fast(
    tmp_path: Path, field: str, value: int
) -> None:
    path = tmp_path / "m.safetensors"
    checkpoint.save_bundle(_model(), path)
    _rewrite_description(path, lambda d: d["generator"].__setitem__(field, value))
    began = time.perf_counter()
    with pytest.raises(CheckpointError, match=f"{path}.*{field} {value}"):
        checkpoint.load_bundle(path)
    assert time.perf_counter() - began < 10


def test_description_of_the_encoder_is_checked(tmp_path: Path) -> None:
    from p2phd.models.encoder import Encoder, EncoderConfig

    encoder_config = EncoderConfig(nef=4, n_downsample=1)
    model = _model(
        FEATURES, encoder=Encoder.from_config(encoder_config), encoder_config=encoder_config
    )
    path = tmp_path / "m.safetensors"
    checkpoint.save_bundle(model, path)
    _rewrite_description(path, lambda d: d["encoder"].__setitem__("n_downsample", 200))
    with pytest.raises(CheckpointError, match=f"{path}.*n_downsample 200"):
        checkpoint.load_bundle(path)


# --- items 8 and 10: wrong types, empty or NaN clusters ----------------------------------------


@pytest.mark.parametrize("clusters", [5, "x", [1.5], [True]])
def test_bundle_clusters_field_of_a_wrong_type(tmp_path: Path, clusters) -> None:
    path = tmp_path / "m.safetensors"
    checkpoint.save_bundle(_model(), path)
    _rewrite_description(path, lambda d: d.__setitem__("clusters", clusters))
    with pytest.raises(CheckpointError, match=f"{path}.*clusters must be a list"):
        checkpoint.load_bundle(path)


def test_bundle_encoder_field_of_a_wrong_type(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    checkpoint.save_bundle(_model(), path)
    _rewrite_description(path, lambda d: d.__setitem__("encoder", 7))
    with pytest.raises(CheckpointError, match=f"{path}: invalid bundle description"):
        checkpoint.load_bundle(path)


@pytest.mark.parametrize(
    "option, value",
    [("label_nc", "35"), ("label_nc", 0), ("feat_num", 2.0), ("use_instance", 1)],
)
def test_public_options_of_a_wrong_type(tmp_path: Path, option: str, value) -> None:
    checkpoint.export_public(_model(), tmp_path)
    with pytest.raises(ValueError, match=f"{option} must be"):
        checkpoint.load(tmp_path, **{option: value})


@pytest.mark.parametrize(
    "centres, message",
    [
        (np.zeros((0, 3), np.float32), "label 7 has an empty list of cluster centres"),
        (np.array([[0.0, np.nan, 1.0]], np.float32), "label 7 contain NaN or infinity"),
    ],
)
def test_empty_or_nan_cluster_centres_are_refused(tmp_path: Path, centres, message) -> None:
    path = tmp_path / "features_clustered_010.npy"
    np.save(path, {7: centres})
    with pytest.raises(CheckpointError, match=f"{path}: .*{message}"):
        checkpoint.load_clusters(path, feat_num=3)


# --- issue 14: model names, a listing error, files with the user's umask -----------------------


def test_demo_is_a_model_name() -> None:
    model = checkpoint.load("demo")
    assert model.config.label_nc == 35
    assert checkpoint.resolve_model("demo") == checkpoint.MODEL_NAMES["demo"]


def test_a_missing_model_lists_what_a_model_may_be(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such model; a MODEL is .*bundle.*demo"):
        checkpoint.load(tmp_path / "nothing")


def test_saved_files_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        model = _model(FEATURES, clusters={1: np.ones((2, 3), np.float32)})
        written = [
            checkpoint.save_bundle(model, tmp_path / "one.safetensors"),
            checkpoint.save_bundle(model, tmp_path / "dir") / "config.json",
            tmp_path / "dir" / "weights.safetensors",
            *checkpoint.export_public(model, tmp_path / "public").values(),
        ]
    finally:
        os.umask(old)
    assert {oct(path.stat().st_mode & 0o777) for path in written} == {oct(0o644)}
