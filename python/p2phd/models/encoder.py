# SPDX-License-Identifier: Apache-2.0
"""The feature encoder E of pix2pixHD (Sec. 3.3): image -> per-instance feature vectors."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .generator import global_generator_layers


@dataclass(frozen=True)
class EncoderConfig:
    """Public options: `--output_nc` (input_nc here), `--feat_num`, `--nef`, `--n_downsample_E`."""

    input_nc: int = 3
    feat_num: int = 3
    nef: int = 16
    n_downsample: int = 4

    def __post_init__(self) -> None:
        for name in ("input_nc", "feat_num", "nef", "n_downsample"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"EncoderConfig.{name} must be an int, got {value!r}")
            if value < (0 if name == "n_downsample" else 1):
                raise ValueError(f"EncoderConfig.{name} is out of range: {value}")


class Encoder(nn.Module):
    """c7s1-nef, d x n_downsample, u x n_downsample, c7s1-feat_num, tanh, then instance means.

    Same layers and keys (`model.<index>.*`) as the public `Encoder`, so `latest_net_E.pth` loads.
    """

    def __init__(
        self, input_nc: int = 3, output_nc: int = 3, ngf: int = 16, n_downsampling: int = 4
    ) -> None:
        super().__init__()
        self.output_nc = output_nc
        # G1's encoder-decoder without its residual blocks, as in the public code.
        self.model = nn.Sequential(
            *global_generator_layers(input_nc, output_nc, ngf, n_downsampling, n_blocks=0)
        )

    @classmethod
    def from_config(cls, config: EncoderConfig) -> Encoder:
        return cls(config.input_nc, config.feat_num, config.nef, config.n_downsample)

    def forward(self, image: torch.Tensor, instances: torch.Tensor) -> torch.Tensor:
        """image N x C x H x W, instances N x H x W or N x 1 x H x W -> N x feat_num x H x W.

        Every pixel gets the mean feature of its instance in its own image.
        """
        # Imported here so that the models import without the native extension built.
        from p2phd import ops

        if instances.dim() == 4:
            if instances.shape[1] != 1:
                raise ValueError(f"instances must be N x 1 x H x W, got {tuple(instances.shape)}")
            instances = instances[:, 0]
        if instances.is_floating_point():
            # Instance maps often arrive as float tensors from image loaders; ids are integers.
            instances = instances.long()
        features = self.model(image)
        if instances.shape != (features.shape[0], *features.shape[2:]):
            raise ValueError(
                f"instances {tuple(instances.shape)} do not match features {tuple(features.shape)}"
            )
        return ops.instance_mean(features, instances)
