# SPDX-License-Identifier: Apache-2.0
"""The feature encoder E of pix2pixHD (Sec. 3.3): image -> per-instance feature vectors."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .generator import norm_layer


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
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0),
            norm_layer(ngf),
            nn.ReLU(True),
        ]
        for i in range(n_downsampling):
            mult = 2**i
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1),
                norm_layer(ngf * mult * 2),
                nn.ReLU(True),
            ]
        for i in range(n_downsampling):
            mult = 2 ** (n_downsampling - i)
            layers += [
                nn.ConvTranspose2d(
                    ngf * mult,
                    ngf * mult // 2,
                    kernel_size=3,
                    stride=2,
                    padding=1,
                    output_padding=1,
                ),
                norm_layer(ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [
            nn.ReflectionPad2d(3),
            nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0),
            nn.Tanh(),
        ]
        self.model = nn.Sequential(*layers)

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
        features = self.model(image)
        if instances.shape != (features.shape[0], *features.shape[2:]):
            raise ValueError(
                f"instances {tuple(instances.shape)} do not match features {tuple(features.shape)}"
            )
        return ops.instance_mean(features, instances)
