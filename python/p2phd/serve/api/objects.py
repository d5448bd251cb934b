# SPDX-License-Identifier: Apache-2.0
"""A session's objects: which one is at a pixel, and the strip of its styles."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from p2phd.ops import THING_ID_BASE, instance_class
from p2phd.serve.api.deps import PNG, EditorDep, SessionDep
from p2phd.serve.api.schemas import ObjectInfo
from p2phd.serve.edits import check_point

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
    return ObjectInfo(
        instance=instance,
        label=label,
        name=labels.names[label],
        thing=instance >= THING_ID_BASE and labels.is_thing(instance_class(instance)),
        box=(box.top, box.bottom, box.left, box.right),
        area=int(mask.sum()),
        styles=editor.model.style_count(instance),
        style=session.style.get(instance),
    )


@router.get("/{instance}/styles.png", response_class=Response, responses=PNG)
async def style_strip(instance: int, session: SessionDep, editor: EditorDep) -> Response:
    """The object's surroundings rendered once per cluster of its class, side by side (one
    batched Runtime call). Headers: X-Style-Count tiles, X-Tile-Box top,bottom,left,right."""
    png, count, box = await editor.style_strip(session, instance)
    headers = {
        "X-Style-Count": str(count),
        "X-Tile-Box": f"{box.top},{box.bottom},{box.left},{box.right}",
    }
    return Response(png, media_type="image/png", headers=headers)
