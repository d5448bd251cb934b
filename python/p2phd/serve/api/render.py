# SPDX-License-Identifier: Apache-2.0
"""POST /api/render: a stateless render of an uploaded labelIds (+ instanceIds) PNG pair."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import Response

from p2phd.serve.api.deps import PNG, EditorDep, InstancesFile, LabelsFile, SeedForm, read_maps
from p2phd.serve.pngio import encode_png
from p2phd.serve.session import Session

router = APIRouter(prefix="/api", tags=["render"])


@router.post("/render", response_class=Response, responses=PNG)
async def render(
    editor: EditorDep,
    labels: LabelsFile,
    instances: InstancesFile = None,
    seed: SeedForm = 0,
) -> Response:
    """The rendered RGB PNG. Nothing is kept on the server."""
    label_map, instance_map = await read_maps(editor, labels, instances)
    session = await asyncio.to_thread(
        Session.create, "stateless", editor.model, label_map, instance_map, seed, 0
    )
    rendered = await editor.render_maps(session)
    png = await asyncio.to_thread(
        encode_png, rendered.images[0], editor.settings.png_compress_level
    )
    return Response(png, media_type="image/png")
