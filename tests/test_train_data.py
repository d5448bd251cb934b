# SPDX-License-Identifier: Apache-2.0
"""Training data sets: pairing, preprocessing, and bad data sets that stop before training
with a message naming the file."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from p2phd.cli import train as train_cli
from p2phd.train import DatasetError, PairedDataset, Preprocess, Trainer, find_samples
from p2phd.train.dataset import epoch_order
from tests.conftest import CITYSCAPES
from tests.train_helpers import HEIGHT, WIDTH, tiny_options, write_scenes


@pytest.fixture()
def scenes(tmp_path):
    return write_scenes(tmp_path / "data", 3)


def test_samples_pair_by_sorted_name_and_load(scenes):
    samples = find_samples(scenes)
    assert [s.label.name[:12] for s in samples] == [s.image.name[:12] for s in samples]
    assert [s.label.name[:12] for s in samples] == [s.instance.name[:12] for s in samples]
    dataset = PairedDataset(samples, Preprocess(resize_or_crop="none", flip=False), seed=0)
    item = dataset[1]
    assert item["label"].shape == item["inst"].shape == (HEIGHT, WIDTH)
    assert item["label"].dtype == item["inst"].dtype == torch.int32
    assert item["image"].shape == (3, HEIGHT, WIDTH)
    assert -1.0 <= float(item["image"].min()) and float(item["image"].max()) <= 1.0
    expected = np.array(Image.open(samples[1].label))
    assert np.array_equal(item["label"].numpy(), expected)
    assert find_samples(scenes, use_instance=False)[0].instance is None


def test_preprocessing_modes():
    plan = Preprocess(resize_or_crop="scale_width", loadSize=1024, stride=16).plan
    assert plan(2048, 1024, None) == ((1024, 512), None, False)
    plan = Preprocess(resize_or_crop="none", stride=16).plan
    assert plan(100, 60, None) == ((96, 64), None, False)  # nearest multiples of the stride
    plan = Preprocess(resize_or_crop="resize_and_crop", loadSize=80, fineSize=64).plan
    size, crop, _ = plan(200, 100, np.random.default_rng(0))
    assert size == (80, 80) and crop[2:] == (64, 64) and 0 <= crop[0] <= 16 and 0 <= crop[1] <= 16
    plan = Preprocess(resize_or_crop="scale_width_and_crop", loadSize=256, fineSize=64).plan
    size, crop, _ = plan(512, 256, None)
    assert size == (256, 128) and crop == (96, 32, 64, 64)  # centre crop without randomness
    with pytest.raises(ValueError, match="smaller than --fineSize"):
        Preprocess(resize_or_crop="crop", fineSize=512).plan(256, 128, None)
    flips = [Preprocess(flip=True).plan(64, 64, np.random.default_rng(s))[2] for s in range(40)]
    assert any(flips) and not all(flips)
    assert not any(
        Preprocess(flip=False).plan(64, 64, np.random.default_rng(s))[2] for s in range(9)
    )


def test_crops_and_flips_are_reproducible_and_consistent(scenes):
    preprocess = Preprocess(resize_or_crop="crop", fineSize=32, flip=True, stride=4)
    dataset = PairedDataset(find_samples(scenes), preprocess, seed=3)
    dataset.set_epoch(5)
    a, b = dataset[2], dataset[2]
    assert all(torch.equal(a[k], b[k]) for k in ("label", "inst", "image"))
    # The label crop is the same window of the image crop: instances keep their labels.
    ids = a["inst"].numpy()
    labels = a["label"].numpy()
    classes = np.where(ids < 1000, ids, ids // 1000)
    assert np.array_equal(classes, labels)
    seen = {tuple(dataset[i]["label"].shape) for i in range(3)}
    assert seen == {(32, 32)}


def test_epoch_order_shards_and_shuffles():
    assert epoch_order(5, 1, seed=0, shuffle=False) == [0, 1, 2, 3, 4]
    one = epoch_order(5, 1, seed=0, shuffle=True)
    assert sorted(one) == [0, 1, 2, 3, 4] and one == epoch_order(5, 1, seed=0, shuffle=True)
    assert one != epoch_order(5, 2, seed=0, shuffle=True)
    shards = [epoch_order(5, 1, seed=0, shuffle=True, rank=r, world_size=2) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 3
    assert set(shards[0]) | set(shards[1]) == set(range(5))


def _break_missing_instance(root):
    victim = sorted((root / "train_inst").iterdir())[1]
    victim.unlink()
    return "synth_000001_gtFine_labelIds.png", "no matching instance map"


def _break_size(root):
    path = sorted((root / "train_inst").iterdir())[2]
    Image.fromarray(np.zeros((HEIGHT, WIDTH // 2), np.uint16)).save(path)
    return path.name, "instance map is 64x64 but its label map"


def _break_image_size(root):
    path = sorted((root / "train_img").iterdir())[0]
    Image.fromarray(np.zeros((HEIGHT // 2, WIDTH, 3), np.uint8)).save(path)
    return path.name, "image is 128x32"


def _break_label(root):
    path = sorted((root / "train_label").iterdir())[2]
    labels = np.array(Image.open(path))
    labels[0, 0] = 40
    Image.fromarray(labels).save(path)
    return path.name, "label 40 is outside"


def _break_unreadable(root):
    path = sorted((root / "train_img").iterdir())[1]
    path.write_bytes(b"\x89PNG\r\n\x1a\n this is not a picture")
    return path.name, "cannot read the image"


def _break_extra_image(root):
    shutil.copy(
        sorted((root / "train_img").iterdir())[0], root / "train_img" / "zzz_leftImg8bit.png"
    )
    return "zzz_leftImg8bit.png", "without a label map"


BREAKERS = {
    "missing instance file": _break_missing_instance,
    "instance size mismatch": _break_size,
    "image size mismatch": _break_image_size,
    "label >= label_nc": _break_label,
    "unreadable image": _break_unreadable,
    "extra image": _break_extra_image,
}


@pytest.mark.parametrize("problem", list(BREAKERS))
def test_bad_dataset_stops_before_training_naming_the_file(scenes, tmp_path, problem):
    filename, message = BREAKERS[problem](scenes)
    with pytest.raises(DatasetError) as error:
        Trainer(tiny_options(scenes, tmp_path / "ck", "bad"))
    assert filename in str(error.value) and message in str(error.value)
    assert not (tmp_path / "ck").exists()  # nothing trained, nothing written


def test_a_sample_loaded_unchecked_names_its_instance_size_as_the_check_does(scenes):
    # --no_check skips check_samples: the loader itself says which sizes differ.
    filename, message = _break_size(scenes)
    dataset = PairedDataset(find_samples(scenes), Preprocess(resize_or_crop="none"), seed=0)
    with pytest.raises(DatasetError) as error:
        dataset[2]
    assert filename in str(error.value) and message in str(error.value)


def test_bad_dataset_cli_exit_code(scenes, tmp_path, capsys):
    filename, _ = _break_label(scenes)
    argv = ["--dataroot", str(scenes), "--checkpoints_dir", str(tmp_path), "--no_vgg_loss"]
    assert train_cli.main(argv + ["--device", "cpu"]) == 2
    assert filename in capsys.readouterr().err


def test_missing_folder_and_stride(scenes, tmp_path):
    shutil.rmtree(scenes / "train_inst")
    with pytest.raises(DatasetError, match="train_inst: no such folder"):
        Trainer(tiny_options(scenes, tmp_path, "x"))
    with pytest.raises(ValueError, match="not divisible by 4"):
        Trainer(tiny_options(scenes, tmp_path, "x", resize_or_crop="crop", fineSize=30))


@pytest.mark.skipif(not (CITYSCAPES / "train_img").is_dir(), reason="no Cityscapes samples")
def test_cityscapes_training_samples_pair_and_load():
    samples = find_samples(CITYSCAPES)
    assert len(samples) >= 1
    preprocess = Preprocess(resize_or_crop="scale_width", loadSize=256, stride=16)
    item = PairedDataset(samples[:1], preprocess)[0]
    assert item["label"].shape == (128, 256) and item["image"].shape == (3, 128, 256)
