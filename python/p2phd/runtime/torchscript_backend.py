# SPDX-License-Identifier: Apache-2.0
"""A TorchScript artifact of p2phd-export (`model.pt`) in PyTorch, on CPU or CUDA."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from p2phd.runtime.map_feeds import Maps, map_feeds
from p2phd.sidecar import EMBEDDED_NAME, check_embedded, sidecar_path

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "int32": torch.int32}


class TorchScriptBackend:
    name = "torchscript"

    def __init__(self, path: Path, device: torch.device, sidecar: dict[str, Any]) -> None:
        extra = {EMBEDDED_NAME: ""}
        try:
            self.module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
        except (RuntimeError, ValueError) as error:
            raise ValueError(
                f"{path}: not a TorchScript module torch can load ({error})"
            ) from error
        self.module.eval()
        embedded = extra[EMBEDDED_NAME]
        check_embedded(
            sidecar,
            embedded.decode(errors="replace") if isinstance(embedded, bytes) else embedded,
            sidecar_path(path),
        )
        self.device = device
        self.input_names = [entry["name"] for entry in sidecar["inputs"]]
        # An artifact exported with its preprocessing takes the raw maps and returns uint8 RGB.
        self.takes_maps = bool(sidecar.get("with_preprocess"))
        self.generates = not self.takes_maps  # generate() returns the float image
        self.input_dtype = _DTYPES[sidecar["inputs"][0]["dtype"]]
        self.precision = sidecar.get("precision", "fp32")

    def generate(self, generator_input: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.module(generator_input.to(self.device, self.input_dtype))

    def render_maps(self, maps: Maps) -> torch.Tensor:
        """labels (+ instances, + features) -> N x H x W x 3 uint8, all inside the module."""
        feeds = map_feeds(self.input_names, maps)
        with torch.inference_mode():
            return self.module(*(feeds[name].to(self.device) for name in self.input_names))
