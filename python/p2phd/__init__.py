# SPDX-License-Identifier: Apache-2.0
"""p2phd: fast pix2pixHD inference."""

from p2phd.ops import build_info

__version__ = "0.1.0"

__all__ = ["__version__", "build_info"]
