# SPDX-License-Identifier: Apache-2.0
"""Paired data sets in the public pix2pixHD layout, checked before training starts.

DATAROOT/{phase}_label/  label maps (single-channel PNGs of class ids)
DATAROOT/{phase}_inst/   instance maps (8/16/32-bit single-channel PNGs), unless no_instance
DATAROOT/{phase}_img/    photos (RGB)
DATAROOT/{phase}_feat/   precomputed feature maps (RGB), only with load_features

Files pair up by sorted order within each folder, as in the public code. Preprocessing follows
the public `get_params` / `get_transform`: resize (nearest for maps, bicubic for photos), a
random crop, rounding to the generator's stride for `none`, and a random horizontal flip.
Randomness is drawn from (seed, epoch, index), so any sample of any epoch can be reproduced
exactly, which is what makes an interrupted run resume bit for bit.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from p2phd.image_io import read_instance_map, read_label_map
from p2phd.ops import instance_class

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff", ".webp")
# Suffixes that Cityscapes and the public scripts append to the shared frame name.
_SUFFIXES = (
    "_gtFine_labelIds",
    "_gtFine_instanceIds",
    "_gtFine_color",
    "_leftImg8bit",
    "_labelIds",
    "_instanceIds",
    "_label",
    "_inst",
    "_img",
    "_feat",
)


class DatasetError(ValueError):
    """A data set that cannot be trained on; the message names the folder or file."""


@dataclass(frozen=True)
class Sample:
    label: Path
    image: Path
    instance: Path | None = None
    feature: Path | None = None


def _list_images(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise DatasetError(f"{directory}: no such folder")
    found = []
    for root, _, names in sorted(os.walk(directory)):
        for name in names:
            if name.lower().endswith(IMG_EXTENSIONS) and not name.startswith("."):
                found.append(Path(root) / name)
    return sorted(found)


def _frame_key(path: Path) -> str:
    stem = path.stem
    for suffix in _SUFFIXES:
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def _pair(labels: list[Path], others: list[Path], what: str, folder: Path) -> None:
    """Fail, naming a file, when two folders do not pair up one to one."""
    if len(labels) == len(others):
        return
    other_keys = {_frame_key(p) for p in others}
    label_keys = {_frame_key(p) for p in labels}
    lonely = [p for p in labels if _frame_key(p) not in other_keys]
    if lonely:
        raise DatasetError(
            f"{lonely[0]}: no matching {what} in {folder} "
            f"({len(labels)} label maps, {len(others)} {what} files)"
        )
    extra = [p for p in others if _frame_key(p) not in label_keys]
    if extra:
        raise DatasetError(f"{extra[0]}: a {what} without a label map ({len(labels)} label maps)")
    raise DatasetError(
        f"{folder} holds {len(others)} {what} files but there are {len(labels)} label maps"
    )


def find_samples(
    dataroot: str | os.PathLike[str],
    phase: str = "train",
    *,
    use_instance: bool = True,
    load_features: bool = False,
    max_dataset_size: float = float("inf"),
) -> list[Sample]:
    """The (label, image, instance, feature) files of a data set, paired by sorted order."""
    root = Path(dataroot)
    if not root.is_dir():
        raise DatasetError(f"{root}: the data root is not a folder")
    label_dir = root / f"{phase}_label"
    labels = _list_images(label_dir)
    if not labels:
        raise DatasetError(f"{label_dir}: no label maps found")
    columns: dict[str, list[Path] | list[None]] = {}
    folders = [("image", f"{phase}_img", True), ("instance map", f"{phase}_inst", use_instance)]
    folders.append(("feature map", f"{phase}_feat", load_features))
    for what, folder_name, wanted in folders:
        if not wanted:
            columns[what] = [None] * len(labels)
            continue
        folder = root / folder_name
        files = _list_images(folder)
        _pair(labels, files, what, folder)
        columns[what] = files
    samples = [
        Sample(label=lab, image=img, instance=ins, feature=feat)
        for lab, img, ins, feat in zip(
            labels, columns["image"], columns["instance map"], columns["feature map"], strict=True
        )
    ]
    if max_dataset_size < len(samples):
        samples = samples[: int(max_dataset_size)]
    return samples


@dataclass(frozen=True)
class Preprocess:
    """The public preprocessing options."""

    resize_or_crop: str = "scale_width"
    loadSize: int = 1024  # noqa: N815 - the public option names
    fineSize: int = 512  # noqa: N815
    flip: bool = True
    stride: int = 16

    def plan(
        self, width: int, height: int, rng: np.random.Generator | None
    ) -> tuple[tuple[int, int], tuple[int, int, int, int] | None, bool]:
        """(resized w, h), crop box (x, y, w, h) or None, flip. rng None: centre crop, no flip."""
        mode = self.resize_or_crop
        new_w, new_h = width, height
        if mode == "resize_and_crop":
            new_w = new_h = self.loadSize
        elif mode in ("scale_width", "scale_width_and_crop") and width != self.loadSize:
            new_w, new_h = self.loadSize, self.loadSize * height // width
        crop = None
        if "crop" in mode:
            size = self.fineSize
            if new_w < size or new_h < size:
                raise ValueError(
                    f"is {new_w}x{new_h} after resizing, smaller than --fineSize {size}"
                )
            if rng is None:
                x, y = (new_w - size) // 2, (new_h - size) // 2
            else:
                x = int(rng.integers(0, new_w - size + 1))
                y = int(rng.integers(0, new_h - size + 1))
            crop = (x, y, size, size)
        out_w, out_h = (crop[2], crop[3]) if crop else (new_w, new_h)
        if crop is None and (out_w % self.stride or out_h % self.stride):
            # Public make_power_2: the nearest multiple of the stride (at least one stride).
            new_w = max(self.stride, int(round(out_w / self.stride)) * self.stride)
            new_h = max(self.stride, int(round(out_h / self.stride)) * self.stride)
        flip = bool(self.flip and rng is not None and rng.random() > 0.5)
        return (new_w, new_h), crop, flip


def _image_size(path: Path, what: str) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode not in ("RGB", "RGBA", "L", "P", "CMYK", "YCbCr", "I;16", "I"):
                raise DatasetError(f"{path}: cannot use a {what} of mode {image.mode}")
            return image.size
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the {what}: {exc}") from exc


def check_samples(
    samples: Sequence[Sample],
    label_nc: int,
    *,
    check_instance_classes: bool = False,
    preprocess: Preprocess | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> set[tuple[int, int]]:
    """Read every file once; raise DatasetError naming the first file that cannot be used:
    unreadable, of another size than its label map, with a label >= label_nc (or, with
    check_instance_classes, an instance whose class `id if id < 1000 else id // 1000` is),
    or too small for `preprocess`. Returns the (width, height) sizes after preprocessing."""
    sizes: set[tuple[int, int]] = set()
    for n, sample in enumerate(samples):
        labels, instances = _read_maps(sample)
        height, width = labels.shape
        top = int(labels.max()) if labels.size else 0
        if top >= label_nc:
            raise DatasetError(
                f"{sample.label}: label {top} is outside [0, label_nc={label_nc}); "
                "set --label_nc to the number of classes"
            )
        size = (width, height)
        if instances is not None and check_instance_classes:
            ids = np.unique(instances).astype(np.int64)
            classes = instance_class(ids)
            if classes.size and (classes.max() >= label_nc or classes.min() < 0):
                bad = ids[(classes >= label_nc) | (classes < 0)][0]
                raise DatasetError(
                    f"{sample.instance}: instance id {bad} belongs to no class in "
                    f"[0, label_nc={label_nc}) (class = id if id < 1000 else id // 1000)"
                )
        for path, what in ((sample.image, "image"), (sample.feature, "feature map")):
            if path is None:
                continue
            got = _image_size(path, what)
            if got != size:
                raise DatasetError(
                    f"{path}: {what} is {got[0]}x{got[1]} but its label map "
                    f"{sample.label.name} is {width}x{height}"
                )
        if preprocess is not None:
            try:
                (new_w, new_h), crop, _ = preprocess.plan(width, height, None)
            except ValueError as exc:
                raise DatasetError(f"{sample.label}: {exc}") from exc
            sizes.add((crop[2], crop[3]) if crop else (new_w, new_h))
        if progress is not None:
            progress(n + 1, len(samples))
    return sizes


def _read_maps(sample: Sample) -> tuple[np.ndarray, np.ndarray | None]:
    """The sample's label map and its instance map (None without one), of the same size;
    DatasetError naming the file otherwise."""
    try:
        labels = read_label_map(sample.label)
        instances = None if sample.instance is None else read_instance_map(sample.instance)
    except ValueError as exc:
        raise DatasetError(str(exc)) from exc
    if instances is not None and instances.shape != labels.shape:
        raise DatasetError(
            f"{sample.instance}: instance map is {instances.shape[1]}x{instances.shape[0]}"
            f" but its label map {sample.label.name} is {labels.shape[1]}x{labels.shape[0]}"
        )
    return labels, instances


def _nearest(array: np.ndarray, width: int, height: int) -> np.ndarray:
    """PIL-style nearest-neighbour resize of an H x W (x C) array."""
    h, w = array.shape[:2]
    if (w, h) == (width, height):
        return array
    ys = np.minimum(((np.arange(height) + 0.5) * h / height).astype(np.int64), h - 1)
    xs = np.minimum(((np.arange(width) + 0.5) * w / width).astype(np.int64), w - 1)
    return array[ys[:, None], xs[None, :]]


def _read_rgb(path: Path, what: str) -> Image.Image:
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the {what}: {exc}") from exc


class PairedDataset(torch.utils.data.Dataset):
    """Label, instance, image (and feature) tensors of one sample, preprocessed.

    Items are dicts: `label` int32 H x W, `inst` int32 H x W (absent without instances),
    `image` float32 3 x H x W in [-1, 1], `feat` float32 C x H x W in [-1, 1] (with feature
    maps), `index`. `set_epoch` picks the epoch whose random crops and flips are drawn.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        preprocess: Preprocess,
        *,
        seed: int = 0,
        augment: bool = True,
    ) -> None:
        self.samples = list(samples)
        self.preprocess = preprocess
        self.seed = seed
        self.augment = augment
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        sample = self.samples[index]
        labels, instances = _read_maps(sample)
        height, width = labels.shape
        rng = np.random.default_rng([self.seed, self.epoch, index]) if self.augment else None
        try:
            (new_w, new_h), crop, flip = self.preprocess.plan(width, height, rng)
        except ValueError as exc:
            raise DatasetError(f"{sample.label}: {exc}") from exc

        def geometry(array: np.ndarray) -> np.ndarray:
            array = _nearest(array, new_w, new_h)
            if crop is not None:
                x, y, w, h = crop
                array = array[y : y + h, x : x + w]
            if flip:
                array = array[:, ::-1]
            return np.ascontiguousarray(array)

        def photo(path: Path, what: str) -> torch.Tensor:
            image = _read_rgb(path, what)
            if image.size != (width, height):
                raise DatasetError(f"{path}: {what} size {image.size} differs from its label map")
            if image.size != (new_w, new_h):
                image = image.resize((new_w, new_h), Image.BICUBIC)
            array = np.asarray(image)
            if crop is not None:
                x, y, w, h = crop
                array = array[y : y + h, x : x + w]
            if flip:
                array = array[:, ::-1]
            tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
            return tensor.float().div_(127.5).sub_(1.0)

        item: dict[str, torch.Tensor | int] = {
            "label": torch.from_numpy(geometry(labels).astype(np.int32)),
            "index": index,
        }
        if instances is not None:
            item["inst"] = torch.from_numpy(geometry(instances.astype(np.int32)))
        item["image"] = photo(sample.image, "image")
        if sample.feature is not None:
            feature = np.asarray(_read_rgb(sample.feature, "feature map"))
            feature = geometry(feature).transpose(2, 0, 1)
            item["feat"] = torch.from_numpy(np.ascontiguousarray(feature)).float() / 127.5 - 1.0
        return item


def epoch_order(
    n: int, epoch: int, *, seed: int, shuffle: bool, rank: int = 0, world_size: int = 1
) -> list[int]:
    """The indices this process visits in `epoch`: a (seed, epoch) permutation, sharded by
    rank like DistributedSampler (padded by wrapping around to a multiple of world_size)."""
    order = np.arange(n)
    if shuffle:
        order = np.random.default_rng([seed, epoch, 7919]).permutation(n)
    if world_size > 1:
        total = -(-n // world_size) * world_size
        order = np.resize(order, total)[rank::world_size]
    return [int(i) for i in order]
