# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest
import torch
from PIL import Image

from p2phd import reference
from p2phd.cli import preview
from p2phd.data.synthetic import CITYSCAPES_PALETTE
from p2phd.image_io import read_instance_map, read_label_map, write_png
from tests.conftest import CITYSCAPES


def test_default_scene_renders(tmp_path, capsys):
    out = tmp_path / "preview.png"
    assert preview.main(["--out", str(out), "--size", "64x128"]) == 0
    image = np.array(Image.open(out))
    assert image.shape == (64, 256, 3)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 3  # several classes and edges
    assert "synthetic scene 0" in capsys.readouterr().out


def test_cityscapes_pair_renders(tmp_path):
    labels = CITYSCAPES / "test_label" / "frankfurt_000000_000576_gtFine_labelIds.png"
    instances = CITYSCAPES / "test_inst" / "frankfurt_000000_000576_gtFine_instanceIds.png"
    if not labels.exists():
        pytest.skip(f"Cityscapes samples not found under {CITYSCAPES}")
    out = tmp_path / "city.png"
    code = preview.main(["--labels", str(labels), "--instances", str(instances), "--out", str(out)])
    assert code == 0
    assert np.array(Image.open(out)).shape == (1024, 4096, 3)


def test_rgb_label_map_is_refused_by_name(tmp_path, capsys):
    rgb = tmp_path / "photo.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(rgb)
    assert preview.main(["--labels", str(rgb), "--out", str(tmp_path / "x.png")]) == 1
    error = capsys.readouterr().err
    assert "photo.png" in error and "single-channel" in error
    assert not (tmp_path / "x.png").exists()


def test_label_outside_label_nc_is_reported(tmp_path, capsys):
    labels = tmp_path / "labels.png"
    Image.fromarray(np.full((8, 8), 40, np.uint8)).save(labels)
    assert preview.main(["--labels", str(labels), "--out", str(tmp_path / "x.png")]) == 1
    assert "label 40 is outside" in capsys.readouterr().err


def test_instance_maps_keep_16_bits(tmp_path):
    path = tmp_path / "inst.png"
    Image.fromarray(np.array([[26001, 7]], np.uint16)).save(path)
    assert read_instance_map(path).tolist() == [[26001, 7]]
    with pytest.raises(ValueError, match="cannot read the label map"):
        read_label_map(tmp_path / "missing.png")


def test_write_png_leaves_nothing_on_failure(tmp_path):
    with pytest.raises(TypeError):
        write_png(tmp_path / "bad.png", np.zeros((4, 4), object))
    assert list(tmp_path.iterdir()) == []


def test_labels_alone_show_class_borders(tmp_path):
    labels = np.zeros((16, 16), np.uint8)
    labels[:, 8:] = 7
    Image.fromarray(labels).save(tmp_path / "labels.png")
    out = tmp_path / "x.png"
    assert preview.main(["--labels", str(tmp_path / "labels.png"), "--out", str(out)]) == 0
    edges = np.array(Image.open(out))[:, 16:, 0]
    assert (edges[:, 7:9] == 255).all() and (edges[:, :7] == 0).all()


def test_odd_sized_maps_show_their_colours_and_edges_pixel_for_pixel(tmp_path):
    # 7 x 13, an odd size: nothing may be padded, shifted or cropped in the picture.
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 35, (7, 13), dtype=np.uint8)
    instances = np.zeros((7, 13), np.uint16)
    instances[2:5, 3:11] = 26001
    Image.fromarray(labels).save(tmp_path / "labels.png")
    Image.fromarray(instances).save(tmp_path / "instances.png")
    out = tmp_path / "x.png"
    argv = [
        "--labels",
        str(tmp_path / "labels.png"),
        "--instances",
        str(tmp_path / "instances.png"),
    ]
    assert preview.main([*argv, "--out", str(out)]) == 0
    image = np.array(Image.open(out))
    edges = reference.instance_edges(torch.from_numpy(instances.astype(np.int64))[None])[0, 0]
    edge = edges.numpy() > 0
    assert edge.sum() == 2 * 8 + 2 * 3 + 2 * 8 + 2 * 1  # both sides of the box's border
    left = np.where(edge[..., None], 255, CITYSCAPES_PALETTE[labels])
    right = np.repeat(np.where(edge, 255, 0)[..., None], 3, axis=2)
    np.testing.assert_array_equal(image, np.concatenate([left, right], axis=1).astype(np.uint8))
