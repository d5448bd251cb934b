# SPDX-License-Identifier: Apache-2.0
"""`p2phd-bench quality`: pix2pixHD's Table 1 on held-out synthetic scenes. Each generator
renders the scenes' label maps, the segmenter labels the renders, and pixel accuracy and mean
IoU against the input label maps say how recognisable the renders are; the oracle row is the
segmenter on the scenes' own photos. PSNR and SSIM against the photos are extra columns."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from p2phd import checkpoint, ops
from p2phd.data.synthetic import SyntheticScene, synthetic_scene
from p2phd.models import GeneratorConfig, build_generator
from p2phd.models.segmenter import Segmenter
from p2phd.quality.judge import load_segmenter, segmentation_confusion
from p2phd.quality.scoring import psnr, segmentation_score, ssim
from p2phd.runtime import Runtime


@dataclass(frozen=True)
class QualityRow:
    """One row of the table. `psnr_db` and `ssim` are None for the oracle (the photos
    themselves); `iou` maps each label id present in the scenes to its IoU."""

    model: str
    pixel_accuracy: float
    mean_iou: float
    psnr_db: float | None
    ssim: float | None
    scenes: int
    iou: dict[str, float] = field(default_factory=dict)


def held_out_scenes(seeds: Iterable[int], height: int, width: int) -> list[SyntheticScene]:
    """The scenes every row is scored on: the same seeds, drawn once."""
    return [synthetic_scene(seed, height, width) for seed in seeds]


def score_images(
    name: str,
    segmenter: Segmenter,
    scenes: list[SyntheticScene],
    images: Iterable[np.ndarray],
    against_photos: bool = True,
) -> QualityRow:
    """Segments `images` (one uint8 H x W x 3 per scene) and scores the result against the
    scenes' label maps; PSNR / SSIM against the scenes' photos when `against_photos`."""
    images = list(images)
    confusion = segmentation_confusion(segmenter, (scene.labels for scene in scenes), images)
    photo_scores = []
    if against_photos:
        photo_scores = [
            (psnr(i, s.image), ssim(i, s.image)) for i, s in zip(images, scenes, strict=True)
        ]
    score = segmentation_score(confusion)
    return QualityRow(
        model=name,
        pixel_accuracy=score.pixel_accuracy,
        mean_iou=score.mean_iou,
        psnr_db=float(np.mean([s[0] for s in photo_scores])) if photo_scores else None,
        ssim=float(np.mean([s[1] for s in photo_scores])) if photo_scores else None,
        scenes=len(scenes),
        iou={str(c): v for c, v in zip(score.classes, score.iou, strict=True)},
    )


def oracle_row(segmenter: Segmenter, scenes: list[SyntheticScene]) -> QualityRow:
    """The segmenter on the scenes' photos: the best a render can be expected to score."""
    photos = (scene.image for scene in scenes)
    return score_images("oracle (synthetic photos)", segmenter, scenes, photos, False)


def renders(runtime: Runtime, scenes: list[SyntheticScene]) -> Iterable[np.ndarray]:
    """`runtime`'s render of each scene; feature models with clusters draw their choices with
    seed 0, those without (untrained, L1 only) get zero features."""
    config = runtime.config
    for scene in scenes:
        features = None
        if config.instance_feat and not runtime.clusters:
            height, width = scene.labels.shape
            features = np.zeros((config.feat_num, height, width), np.float32)
        yield runtime.render(scene.labels, scene.instances, features=features, seed=0)


def render_row(
    runtime: Runtime, name: str, segmenter: Segmenter, scenes: list[SyntheticScene]
) -> QualityRow:
    return score_images(name, segmenter, scenes, renders(runtime, scenes))


def untrained_generator(config: GeneratorConfig) -> torch.nn.Module:
    """A generator of `config` with PyTorch's default initialisation, drawn with seed 0."""
    torch.manual_seed(0)
    return build_generator(config).eval()


def train_l1_baseline(
    config: GeneratorConfig,
    seeds: range,
    height: int,
    width: int,
    iterations: int,
    batch: int,
    device: torch.device,
    precision: str = "fp32",
) -> torch.nn.Module:
    """A generator of `config` trained on the synthetic scenes of `seeds` with an L1 loss
    alone (no discriminator), Adam as in pix2pixHD: the baseline a GAN has to beat. Feature
    models get zero features, as they would at inference without clusters. With precision
    "bf16" the forward pass runs under bf16 autocast (weights and optimiser stay fp32)."""
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be fp32 or bf16, got {precision!r}")
    torch.manual_seed(0)
    generator = build_generator(config).to(device).train()
    optimizer = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    sizes = ([height] * len(seeds), [width] * len(seeds))
    if len(seeds) < 64:  # starting worker processes would take longer than drawing the scenes
        scenes = list(map(synthetic_scene, seeds, *sizes))
    else:
        with ProcessPoolExecutor() as pool:
            scenes = list(pool.map(synthetic_scene, seeds, *sizes))
    labels = torch.from_numpy(np.stack([s.labels for s in scenes])).to(device)
    instances = torch.from_numpy(np.stack([s.instances for s in scenes])).to(device)
    photos = torch.from_numpy(np.stack([s.image for s in scenes])).to(device)
    photos = photos.permute(0, 3, 1, 2).float() / 127.5 - 1
    features = None
    if config.instance_feat:
        features = torch.zeros(batch, config.feat_num, height, width, device=device)
    rng = np.random.default_rng(0)
    report_every = max(1, iterations // 100)  # about a hundred lines for a long run
    started = time.monotonic()
    for iteration in range(1, iterations + 1):
        pick = torch.from_numpy(rng.choice(len(scenes), batch, replace=False)).to(device)
        x = ops.generator_input(labels[pick], instances[pick], config.label_nc, features=features)
        with torch.autocast(device.type, torch.bfloat16, enabled=precision == "bf16"):
            fake = generator(x)
        loss = F.l1_loss(fake.float(), photos[pick])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if iteration % report_every == 0 or iteration == iterations:
            elapsed = time.monotonic() - started
            eta = elapsed / iteration * (iterations - iteration)
            print(
                f"L1 baseline: iteration {iteration}/{iterations} loss {loss.item():.4f} "
                f"elapsed {elapsed:.0f} s ETA {eta:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    return generator.eval()


def save_generator(config: GeneratorConfig, generator: torch.nn.Module, path: str) -> None:
    """`generator` as a p2phd bundle that Runtime loads (no encoder, no clusters)."""
    model = checkpoint.LoadedModel(config=config, generator=generator.cpu())
    checkpoint.save_bundle(model, path)


@dataclass(frozen=True)
class L1Training:
    """How `run` trains the L1-only row: scenes, iterations, batch, and where to keep the
    generator (None: not kept)."""

    seeds: range
    iterations: int
    batch: int
    save_to: str | None = None
    precision: str = "fp32"  # or "bf16": the forward pass under bf16 autocast


def run(
    models: list[str],
    device: torch.device,
    seeds: range,
    height: int,
    width: int,
    segmenter_path: str | None = None,
    l1_model: str | None = None,
    l1_training: L1Training | None = None,
    precisions: Sequence[str] = ("fp32",),
) -> list[QualityRow]:
    """The table's rows: the oracle, each of `models` in each of `precisions` (fp32 rows
    named by the model alone, the others by the model and precision, as the Runtime ran
    them: OpenVINO on a CPU), an untrained generator of the first model's architecture, and
    the L1-only generator (`l1_model`, or trained as `l1_training` says) when given. Every
    row is scored on the same scenes, `seeds` at height x width."""
    if not seeds:
        raise ValueError("the held-out seed range is empty")
    if not precisions or any(p not in ("fp32", "bf16") for p in precisions):
        raise ValueError(f"precisions must be fp32 and/or bf16, got {list(precisions)}")
    segmenter = load_segmenter(segmenter_path, device)
    scenes = held_out_scenes(seeds, height, width)
    config = Runtime(models[0], device=device).config
    sources: list[tuple[str, str | torch.nn.Module]] = [(path, path) for path in models]
    sources.append(("untrained", untrained_generator(config)))
    if l1_model:
        sources.append((f"L1 only ({l1_model})", l1_model))
    elif l1_training:
        l1 = train_l1_baseline(
            config,
            l1_training.seeds,
            height,
            width,
            l1_training.iterations,
            l1_training.batch,
            device,
            l1_training.precision,
        )
        if l1_training.save_to:
            save_generator(config, l1, l1_training.save_to)
            print(f"L1 baseline kept in {l1_training.save_to}", file=sys.stderr, flush=True)
        name = f"L1 only, {l1_training.iterations} iterations"
        if l1_training.precision != "fp32":
            name += f", {l1_training.precision}"
        sources.append((name, l1))
    rows = [_timed("oracle", oracle_row, segmenter, scenes)]
    with tempfile.TemporaryDirectory() as directory:
        for index, (name, source) in enumerate(sources):
            path = source
            if isinstance(source, torch.nn.Module):
                path = f"{directory}/{index}"
                save_generator(config, source, path)
            # The given models in each precision; the baselines in fp32 only.
            for precision in precisions if index < len(models) else ("fp32",):
                runtime = Runtime(path, device=device, precision=precision)
                label = name if precision == "fp32" else f"{name} ({runtime.precision})"
                rows.append(_timed(label, render_row, runtime, label, segmenter, scenes))
    return rows


def _timed(what: str, score: Callable[..., QualityRow], *args: object) -> QualityRow:
    """`score(*args)`, saying on stderr what was scored and how long it took."""
    started = time.monotonic()
    row = score(*args)
    print(f"scored {what} in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return row


def format_table(rows: list[QualityRow]) -> str:
    """The rows in the paper's form (pixel accuracy in %, mean IoU), PSNR and SSIM after."""
    width = max(32, *(len(row.model) for row in rows))
    lines = [f"{'model':<{width}} {'pixel acc':>9} {'mean IoU':>8} {'PSNR dB':>8} {'SSIM':>7}"]
    for row in rows:
        psnr_text = f"{row.psnr_db:>8.2f}" if row.psnr_db is not None else f"{'-':>8}"
        ssim_text = f"{row.ssim:>7.4f}" if row.ssim is not None else f"{'-':>7}"
        lines.append(
            f"{row.model:<{width}} {row.pixel_accuracy:>9.2%} {row.mean_iou:>8.4f} "
            f"{psnr_text} {ssim_text}"
        )
    return "\n".join(lines)
