# SPDX-License-Identifier: Apache-2.0
"""p2phd-serve: the interactive pix2pixHD editor (FastAPI app, sessions, batched renders).
Needs the `serve` extra: pip install "p2phd[serve]"."""

from p2phd.serve.app import create_app
from p2phd.serve.settings import Settings

__all__ = ["Settings", "create_app"]
