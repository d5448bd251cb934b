# SPDX-License-Identifier: Apache-2.0
"""What a checkpoint holds (`LoadedModel`) and the error every reader raises."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from p2phd.models.config import GeneratorConfig
from p2phd.models.encoder import Encoder, EncoderConfig

Clusters = dict[int, np.ndarray]


class CheckpointError(ValueError):
    """A checkpoint or bundle that cannot be read, or that does not fit the requested model."""


@dataclass
class LoadedModel:
    """What a checkpoint holds: the generator, and for feature models the encoder and clusters.

    `clusters` maps a label to its K x feat_num cluster centres (public `features_clustered`).
    """

    config: GeneratorConfig
    generator: nn.Module
    encoder: Encoder | None = None
    encoder_config: EncoderConfig | None = None
    clusters: Clusters | None = None


def state_dict_of(module: nn.Module) -> dict[str, torch.Tensor]:
    """The module's tensors, detached, on the CPU and contiguous: ready to be written."""
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
