# SPDX-License-Identifier: Apache-2.0
"""p2phd: fast pix2pixHD inference."""

__version__ = "0.1.0"
