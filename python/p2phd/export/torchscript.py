# SPDX-License-Identifier: Apache-2.0
"""TorchScript artifacts: a frozen trace whose `p2phd.json` extra file holds the sidecar."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from p2phd.sidecar import EMBEDDED_NAME


def export_torchscript(
    module: nn.Module, example: tuple[torch.Tensor, ...], path: Path, sidecar_json: str
) -> None:
    """Trace, freeze and save `module`; the sidecar travels inside as an extra file."""
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings and the TorchScript deprecation note
        traced = torch.jit.trace(module, example, check_trace=False)
        traced = torch.jit.freeze(traced.eval())
        torch.jit.save(traced, str(path), _extra_files={EMBEDDED_NAME: sidecar_json})


def run_torchscript(path: Path, named: Mapping[str, torch.Tensor]) -> np.ndarray:
    """The TorchScript module at `path` on the CPU, fed in input order."""
    module = torch.jit.load(str(path), map_location="cpu")
    with torch.inference_mode():
        out = module(*named.values())
    return out.numpy() if out.dtype == torch.uint8 else out.double().numpy()
