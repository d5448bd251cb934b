# SPDX-License-Identifier: Apache-2.0
"""p2phd: fast pix2pixHD inference."""

from __future__ import annotations

import re
from typing import Any

import torch

__version__ = "0.1.0"

__all__ = ["Runtime", "__version__", "build_info"]

# The oldest torch p2phd runs on: torch.uint16 (2.3), torch.library.custom_op (2.4) and
# torch.onnx.export(..., dynamo=False) (2.5). pyproject.toml declares the same floor.
TORCH_FLOOR = (2, 5)


def check_torch_version(version: str) -> None:
    """Raises ImportError, naming the floor, when torch `version` is older than TORCH_FLOOR."""
    match = re.match(r"(\d+)\.(\d+)", version)
    if match is None or (int(match[1]), int(match[2])) < TORCH_FLOOR:
        floor = ".".join(map(str, TORCH_FLOOR))
        raise ImportError(
            f"p2phd needs torch>={floor}, but torch {version} is installed: "
            f'pip install "torch>={floor}"'
        )


def __getattr__(name: str) -> Any:
    # Lazy, so that p2phd.models and p2phd.checkpoint import without the native extension.
    if name == "Runtime":
        from p2phd.runtime import Runtime

        return Runtime
    if name == "build_info":
        from p2phd.ops import build_info

        return build_info
    raise AttributeError(f"module 'p2phd' has no attribute {name!r}")


check_torch_version(str(torch.__version__))
