# SPDX-License-Identifier: Apache-2.0
"""`GeneratorConfig`: the one description of a generator that travels with every checkpoint."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Literal

NetG = Literal["global", "local"]


@dataclass(frozen=True)
class GeneratorConfig:
    """Architecture and input layout of a pix2pixHD generator.

    Field names and defaults follow the public pix2pixHD options (`--label_nc`, `--no_instance`,
    `--instance_feat`, `--feat_num`, `--netG`, ...), so a training command line maps onto it
    one to one. label2city_1024p is `GeneratorConfig(netG="local", ngf=32)`.
    """

    label_nc: int = 35
    use_instance: bool = True
    # Channels of the instance features; only part of the input when `instance_feat` is set.
    feat_num: int = 3
    instance_feat: bool = False
    netG: NetG = "global"
    ngf: int = 64
    n_downsample_global: int = 4
    n_blocks_global: int = 9
    n_local_enhancers: int = 1
    n_blocks_local: int = 3
    output_nc: int = 3

    def __post_init__(self) -> None:
        self.validate()

    @property
    def feature_nc(self) -> int:
        """Feature channels in the generator input (0 when instance features are off)."""
        return self.feat_num if self.instance_feat else 0

    @property
    def input_nc(self) -> int:
        """Generator input channels: one-hot labels, then the edge map, then the features."""
        return self.label_nc + int(self.use_instance) + self.feature_nc

    def validate(self) -> None:
        """Raise ValueError naming the first field that cannot describe a generator."""
        for name in ("use_instance", "instance_feat"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"GeneratorConfig.{name} must be a bool, got {getattr(self, name)!r}"
                )
        positive = ("label_nc", "ngf", "output_nc")
        non_negative = ("feat_num", "n_downsample_global", "n_blocks_global", "n_blocks_local")
        for name in positive + non_negative + ("n_local_enhancers",):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"GeneratorConfig.{name} must be an int, got {value!r}")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"GeneratorConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ValueError(f"GeneratorConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.netG not in ("global", "local"):
            raise ValueError(f"GeneratorConfig.netG must be 'global' or 'local', got {self.netG!r}")
        if self.netG == "local" and self.n_local_enhancers < 1:
            raise ValueError(
                f"GeneratorConfig.n_local_enhancers must be >= 1 for netG='local', "
                f"got {self.n_local_enhancers}"
            )
        if self.n_local_enhancers < 0:
            raise ValueError(
                f"GeneratorConfig.n_local_enhancers must be >= 0, got {self.n_local_enhancers}"
            )
        if self.instance_feat and self.feat_num < 1:
            raise ValueError("GeneratorConfig.instance_feat needs feat_num >= 1, got 0")

    @property
    def downsampling(self) -> int:
        """Factor that input height and width must be divisible by for an exact-size output."""
        levels = self.n_downsample_global
        if self.netG == "local":
            levels += self.n_local_enhancers
        return 2**levels

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorConfig:
        if not isinstance(data, dict):
            raise ValueError(f"GeneratorConfig needs a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown GeneratorConfig field(s): {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str | bytes | dict[str, Any]) -> GeneratorConfig:
        """Parse a JSON string (or an already decoded dict)."""
        if isinstance(text, dict):
            return cls.from_dict(text)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"GeneratorConfig JSON is not valid JSON: {exc}") from exc
        return cls.from_dict(data)
