# SPDX-License-Identifier: Apache-2.0
"""p2phd: fast pix2pixHD inference."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["Runtime", "__version__", "build_info"]


def __getattr__(name: str) -> Any:
    # Lazy, so that p2phd.models and p2phd.checkpoint import without the native extension.
    if name == "Runtime":
        from p2phd.runtime import Runtime

        return Runtime
    if name == "build_info":
        from p2phd.ops import build_info

        return build_info
    raise AttributeError(f"module 'p2phd' has no attribute {name!r}")
