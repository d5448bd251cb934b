# SPDX-License-Identifier: Apache-2.0
"""Small models the tests render with."""

from __future__ import annotations

from pathlib import Path

import torch

from p2phd import checkpoint
from p2phd.models import GeneratorConfig, build_generator


def save_random_bundle(path: Path, config: GeneratorConfig, seed: int = 0) -> Path:
    """A bundle at `path` of a generator of `config` with random weights drawn from `seed`."""
    torch.manual_seed(seed)
    generator = build_generator(config)
    checkpoint.save_bundle(checkpoint.LoadedModel(config=config, generator=generator), path)
    return path
