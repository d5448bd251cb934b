# SPDX-License-Identifier: Apache-2.0
"""POST /api/render: a stateless render of an uploaded labelIds (+ instanceIds) PNG pair."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import Response

from p2phd.serve.api.deps import PNG, EditorDep, MapsForm
from p2phd.serve.pngio import encode_png
from p2phd.serve.session import Session

router = APIRouter(prefix="/api", tags=["render"])


@router.post("/render", response_class=Response, responses=PNG)
async def render(editor: EditorDep, maps: MapsForm) -> Response:
    """The rendered RGB PNG. Nothing is kept on the server."""
    session = await asyncio.to_thread(
        Session.create, "stateless", editor.model, maps.labels, maps.instances, maps.seed, 0
    )
    rendered = await editor.render_maps(session)
    png = await asyncio.to_thread(
        encode_png, rendered.images[0], editor.settings.png_compress_level
    )
    return Response(png, media_type="image/png")
