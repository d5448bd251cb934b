# SPDX-License-Identifier: Apache-2.0
"""INT8 OpenVINO IR (`p2phd-export --to openvino --int8`): NNCF's post-training quantization
of the f32 IR, calibrated on label maps, and judged by the paper's measure rather than by
pixel error: the shipped segmenter labels renders of held-out synthetic scenes by the f32 IR
and by the INT8 one, and the INT8 renders' mean IoU must be at least MIN_IOU_RATIO of the
f32 renders'.

Measured on the demo model (BENCHMARKS.md): NNCF's default recipe already keeps the score
(mean IoU 1.01x f32 on 50 held-out scenes), so nothing is kept in higher precision beyond
what NNCF leaves unquantized itself (instance norms, the tanh)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from p2phd.artifact_io import TensorSpec
from p2phd.export import verify as verification
from p2phd.export.common import ExportUsageError
from p2phd.export.verify import VerificationError
from p2phd.image_io import read_instance_map, read_label_map
from p2phd.map_jobs import instance_path_for, label_maps_in
from p2phd.models import GeneratorConfig
from p2phd.runtime import openvino_models

MIN_IOU_RATIO = 0.97
# Held-out scenes of the score check: the seeds `p2phd-bench quality` holds out.
HELD_OUT_SEED = 100000
SCORED_SCENES = 8
CALIBRATION_SCENES = 32  # synthetic scenes of "synthetic" without a count
DEFAULT_CALIBRATION = f"synthetic:{CALIBRATION_SCENES}"


@dataclass(frozen=True)
class ScoreVerification:
    """The INT8 IR's segmentation score against the f32 IR's (a verification line)."""

    int8_iou: float
    f32_iou: float
    scenes: int
    size: tuple[int, int]

    @property
    def ratio(self) -> float:
        return self.int8_iou / self.f32_iou if self.f32_iou > 0 else 1.0

    @property
    def passed(self) -> bool:
        return self.ratio >= MIN_IOU_RATIO

    def describe(self) -> str:
        return (
            f"verify int8 (OpenVINO, NNCF): mean IoU {self.int8_iou:.4f} vs f32 "
            f"{self.f32_iou:.4f} ({self.ratio:.1%}, needs >= {MIN_IOU_RATIO:.0%}) on "
            f"{self.scenes} held-out synthetic scenes of {self.size[0]}x{self.size[1]}: "
            f"{'ok' if self.passed else 'FAILED'}"
        )


@dataclass(frozen=True)
class Calibration:
    """Where the calibration maps come from: `count` synthetic scenes, or the label maps
    (and their instance maps) of `folder`."""

    count: int
    folder: Path | None = None

    def describe(self) -> str:
        where = f"maps of {self.folder}" if self.folder else "synthetic scenes"
        return f"{self.count} {where}"


def parse_calibration(text: str) -> Calibration:
    """ "synthetic" or "synthetic:N" (N scenes, default 32), or a folder of label maps (the
    public layout, or flat `*_labelIds` beside `*_instanceIds`; all its maps)."""
    match = re.fullmatch(r"synthetic(?::(\d+))?", text)
    if match:
        count = int(match.group(1) or CALIBRATION_SCENES)
        if not 1 <= count <= 10000:
            raise ExportUsageError(f"calibration: 1 to 10000 synthetic scenes, got {count}")
        return Calibration(count)
    folder = Path(text)
    if not folder.is_dir():
        raise ExportUsageError(f"calibration {text!r}: not 'synthetic[:N]' nor a folder")
    maps = label_maps_in(folder)
    if not maps:
        raise ExportUsageError(f"calibration folder {folder} holds no label maps")
    return Calibration(len(maps), folder)


def calibration_of(int8: bool, to: str, precision: str, text: str) -> Calibration | None:
    """What an export quantizes on (None without `int8`); usage errors first."""
    if not int8:
        return None
    if to != "openvino" or precision != "fp32":
        raise ExportUsageError("--int8 takes --to openvino in fp32 (the IR it quantizes)")
    return parse_calibration(text)


def calibration_maps(
    calibration: Calibration, config: GeneratorConfig, size: tuple[int, int]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(labels, instances) pairs of `size` (maps of a folder are cropped or refused; a map
    without an instance map is its own instance map, as the public loader's --no_instance
    data has no instance boundaries but the label ones)."""
    if calibration.folder is None:
        return verification.synthetic_maps(config, calibration.count, size, seed=0)
    maps = []
    for path in label_maps_in(calibration.folder):
        labels = read_label_map(path)
        if labels.shape[0] < size[0] or labels.shape[1] < size[1]:
            raise ExportUsageError(
                f"calibration map {path} is {labels.shape[0]}x{labels.shape[1]}, smaller than "
                f"the export's {size[0]}x{size[1]}"
            )
        instance_path = instance_path_for(path)
        instances = labels if instance_path is None else read_instance_map(instance_path)
        crop = (slice(0, size[0]), slice(0, size[1]))
        maps.append((labels[crop].astype(np.int32), instances[crop].astype(np.int32)))
    return maps


def _feeds(
    config: GeneratorConfig,
    clusters: Mapping[int, np.ndarray] | None,
    maps: Sequence[tuple[np.ndarray, np.ndarray]],
    inputs: Sequence[TensorSpec],
    batch: int,
) -> list[dict[str, np.ndarray]]:
    """The IR's inputs for `maps`, `batch` maps at a time (styles drawn with seed 0)."""
    feeds = []
    for start in range(0, len(maps) - batch + 1, batch):
        sample = verification.make_sample(config, maps[start : start + batch], clusters, seed=0)
        feeds.append({n: v.numpy() for n, v in sample.feeds(inputs).items()})
    return feeds


def quantize_ir(
    xml: Path,
    config: GeneratorConfig,
    clusters: Mapping[int, np.ndarray] | None,
    inputs: Sequence[TensorSpec],
    maps: Sequence[tuple[np.ndarray, np.ndarray]],
    batch: int,
    into: Path,
) -> None:
    """The f32 IR at `xml` quantized to INT8 with NNCF on `maps`, saved as the IR `into`."""
    from p2phd.extras import require

    nncf = require("nncf")
    feeds = _feeds(config, clusters, maps, inputs, batch)
    if not feeds:
        raise ExportUsageError(f"calibration needs at least {batch} map(s) for this export")
    model = openvino_models.core().read_model(str(xml))
    quantized = nncf.quantize(model, nncf.Dataset(feeds), subset_size=len(feeds))
    openvino_models.import_openvino().save_model(quantized, str(into), compress_to_fp16=False)


def _images(xml: Path, feeds: Sequence[Mapping[str, np.ndarray]], hint: str) -> list[np.ndarray]:
    """uint8 H x W x 3 renders of `feeds` by the IR, its non-INT8 layers in `hint`."""
    compiled = openvino_models.core().compile_model(
        str(xml), "CPU", {"INFERENCE_PRECISION_HINT": hint}
    )
    request = compiled.create_infer_request()
    images = []
    for feed in feeds:
        request.infer(dict(feed))
        output = request.get_output_tensor(0).data.copy()
        if output.dtype != np.uint8:  # the plain graph: N x 3 x H x W in [-1, 1]
            scaled = np.clip((output + 1) / 2, 0, 1) * 255
            output = np.round(scaled).astype(np.uint8).transpose(0, 2, 3, 1)
        images.extend(output)
    return images


def check_score(
    f32_xml: Path,
    int8_xml: Path,
    config: GeneratorConfig,
    clusters: Mapping[int, np.ndarray] | None,
    inputs: Sequence[TensorSpec],
    size: tuple[int, int],
    batch: int,
) -> ScoreVerification:
    """Mean IoU of the INT8 IR's renders against the f32 IR's, on SCORED_SCENES held-out
    synthetic scenes of `size`; VerificationError below MIN_IOU_RATIO."""
    from p2phd.data.synthetic import synthetic_scene
    from p2phd.quality.judge import load_segmenter, segmentation_confusion
    from p2phd.quality.scoring import segmentation_score

    segmenter = load_segmenter()
    if segmenter.config.label_nc != config.label_nc:
        raise ExportUsageError(
            f"--int8 is verified by the shipped segmenter, whose {segmenter.config.label_nc} "
            f"labels are not this model's {config.label_nc}: export with --no-verify"
        )
    count = SCORED_SCENES - SCORED_SCENES % batch or batch
    scenes = [synthetic_scene(HELD_OUT_SEED + i, *size) for i in range(count)]
    maps = [(s.labels.astype(np.int32), s.instances.astype(np.int32)) for s in scenes]
    feeds = _feeds(config, clusters, maps, inputs, batch)
    labels = [scene.labels for scene in scenes]
    with torch.inference_mode():
        f32, int8 = (
            segmentation_score(
                segmentation_confusion(segmenter, labels, _images(xml, feeds, "f32"))
            )
            for xml in (f32_xml, int8_xml)
        )
    result = ScoreVerification(int8.mean_iou, f32.mean_iou, count, size)
    if not result.passed:
        raise VerificationError(result.describe(), result)
    return result
