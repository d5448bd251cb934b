# SPDX-License-Identifier: Apache-2.0
"""A session's objects: which one is at a pixel, and the strip of its styles."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import Response

from p2phd.ops import THING_ID_BASE, instance_class
from p2phd.serve.api.deps import PNG, EditorDep, SessionDep, read_upload
from p2phd.serve.api.schemas import ObjectInfo, SessionInfo
from p2phd.serve.edits import Box, check_point
from p2phd.serve.errors import ClientError
from p2phd.serve.pngio import decode_photo

router = APIRouter(prefix="/api/sessions/{session_id}/objects", tags=["objects"])


@router.get("/at")
async def object_at(x: int, y: int, session: SessionDep, editor: EditorDep) -> ObjectInfo:
    """The object (instance) under pixel (x, y)."""
    check_point(x, y, *session.shape)
    return await object_info(int(session.instances[y, x]), session, editor)


@router.get("/{instance}")
async def object_info(instance: int, session: SessionDep, editor: EditorDep) -> ObjectInfo:
    mask, box = session.object_mask(instance)
    label = int(session.labels[mask][0])
    labels = editor.model.labels
    style = session.style.get(instance)
    return ObjectInfo(
        instance=instance,
        label=label,
        name=labels.names[label],
        thing=instance >= THING_ID_BASE and labels.is_thing(instance_class(instance)),
        box=(box.top, box.bottom, box.left, box.right),
        area=int(mask.sum()),
        styles=editor.model.style_count(instance),
        style=style if isinstance(style, int) else None,
        photo_style=isinstance(style, tuple),
    )


PhotoFile = Annotated[UploadFile, File(description="PNG or JPEG photo of the map's size")]


@router.put("/{instance}/photo-style")
async def photo_style(
    instance: int, session: SessionDep, editor: EditorDep, photo: PhotoFile
) -> SessionInfo:
    """The object takes the style the model's encoder gives it in an uploaded photo (as
    Runtime.render(..., features_from=photo) renders its pixels); one undoable step. 409 for
    a model without an encoder."""
    if not editor.photo_styles:
        raise ClientError(409, "this model has no encoder: a photo cannot give a style")
    data = await read_upload(photo, "photo", editor.settings.max_upload_bytes)
    image = await asyncio.to_thread(decode_photo, data, editor.settings.max_side)
    await editor.photo_style(session, instance, image)
    editor.store.enforce_limits(keep=session.id)
    return SessionInfo.of(session)


@router.get("/{instance}/styles.png", response_class=Response, responses=PNG)
async def style_strip(instance: int, session: SessionDep, editor: EditorDep) -> Response:
    """The object's surroundings rendered once per cluster of its class, side by side (one
    batched Runtime call). Headers: X-Style-Count tiles, X-Tile-Box top,bottom,left,right."""
    return strip_response(*await editor.style_strip(session, instance))


@router.get("/{instance}/styles/{cluster}.png", response_class=Response, responses=PNG)
async def style_tile(
    instance: int, cluster: int, session: SessionDep, editor: EditorDep
) -> Response:
    """The tile of styles.png for cluster `cluster` alone, the same pixels from a Runtime call
    of one map: the editor page asks for the tiles one by one, in order, and shows each as it
    comes. Headers as for styles.png."""
    return strip_response(*await editor.style_strip(session, instance, cluster))


def strip_response(png: bytes, count: int, box: Box) -> Response:
    headers = {
        "X-Style-Count": str(count),
        "X-Tile-Box": f"{box.top},{box.bottom},{box.left},{box.right}",
    }
    return Response(png, media_type="image/png", headers=headers)
