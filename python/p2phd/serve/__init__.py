# SPDX-License-Identifier: Apache-2.0
"""p2phd-serve: the interactive pix2pixHD editor (FastAPI app, sessions, batched renders).
Needs the `serve` extra: pip install "p2phd[serve]"."""

from p2phd.extras import require

# Every module of this package imports fastapi: name the extra before the first one fails.
for _module in ("fastapi", "multipart"):
    require(_module)

from p2phd.serve.app import create_app  # noqa: E402
from p2phd.serve.settings import Settings  # noqa: E402

__all__ = ["Settings", "create_app"]
