# SPDX-License-Identifier: Apache-2.0
"""Image quality of generators on held-out synthetic scenes (`p2phd-bench quality`): PSNR
and SSIM of each render against the scene's synthetic photo, and the L1-only baseline."""

from __future__ import annotations

import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from p2phd import checkpoint, ops
from p2phd.data.synthetic import synthetic_scene
from p2phd.models import GeneratorConfig, build_generator
from p2phd.runtime import Runtime


@dataclass(frozen=True)
class Quality:
    model: str
    psnr_db: float
    ssim: float
    scenes: int


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    mse = np.mean((image.astype(np.float64) - reference.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255**2 / mse))


def ssim(image: np.ndarray, reference: np.ndarray) -> float:
    """Mean SSIM of two H x W x 3 uint8 images (Wang et al. 2004: 11x11 Gaussian window,
    sigma 1.5, K1 0.01, K2 0.03), averaged over the colour channels."""
    x = torch.from_numpy(image).double().permute(2, 0, 1)[:, None]
    y = torch.from_numpy(reference).double().permute(2, 0, 1)[:, None]
    coords = torch.arange(11, dtype=torch.float64) - 5
    gauss = torch.exp(-(coords**2) / (2 * 1.5**2))
    window = (gauss[:, None] * gauss[None, :] / gauss.sum() ** 2)[None, None]

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return float(index.mean())


def evaluate(runtime: Runtime, name: str, seeds: range, height: int, width: int) -> Quality:
    """Renders the synthetic scenes of `seeds` (feature models: cluster choices drawn with
    seed 0) and compares each with its photo."""
    config = runtime.config
    scores = []
    for seed in seeds:
        scene = synthetic_scene(seed, height, width)
        features = None
        if config.instance_feat and not runtime.clusters:
            # A feature model without clusters (untrained, L1 baseline) gets zero features.
            features = np.zeros((config.feat_num, height, width), np.float32)
        image = runtime.render(scene.labels, scene.instances, features=features, seed=0)
        scores.append((psnr(image, scene.image), ssim(image, scene.image)))
    return Quality(
        name,
        statistics.mean(s[0] for s in scores),
        statistics.mean(s[1] for s in scores),
        len(scores),
    )


def train_l1_baseline(
    config: GeneratorConfig,
    seeds: range,
    height: int,
    width: int,
    iterations: int,
    batch: int,
    device: torch.device,
) -> torch.nn.Module:
    """A generator of `config` trained on the synthetic scenes of `seeds` with an L1 loss
    alone (no discriminator), Adam as in pix2pixHD: the baseline a GAN has to beat. Feature
    models get zero features, as they would at inference without clusters."""
    torch.manual_seed(0)
    generator = build_generator(config).to(device).train()
    optimizer = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    with ProcessPoolExecutor() as pool:
        scenes = list(pool.map(synthetic_scene, seeds, [height] * len(seeds), [width] * len(seeds)))
    labels = torch.from_numpy(np.stack([s.labels for s in scenes])).to(device)
    instances = torch.from_numpy(np.stack([s.instances for s in scenes])).to(device)
    photos = torch.from_numpy(np.stack([s.image for s in scenes])).to(device)
    photos = photos.permute(0, 3, 1, 2).float() / 127.5 - 1
    features = None
    if config.instance_feat:
        features = torch.zeros(batch, config.feat_num, height, width, device=device)
    rng = np.random.default_rng(0)
    for _ in range(iterations):
        pick = torch.from_numpy(rng.choice(len(scenes), batch, replace=False)).to(device)
        x = ops.generator_input(labels[pick], instances[pick], config.label_nc, features=features)
        loss = F.l1_loss(generator(x), photos[pick])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return generator.eval()


def save_generator(config: GeneratorConfig, generator: torch.nn.Module, path: str) -> None:
    model = checkpoint.LoadedModel(config=config, generator=generator.cpu())
    checkpoint.save_bundle(model, path)
