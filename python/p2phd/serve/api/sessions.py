# SPDX-License-Identifier: Apache-2.0
"""Editor sessions: create, load maps, edit, undo/redo, render and download."""

from __future__ import annotations

import asyncio

import numpy as np
from fastapi import APIRouter
from fastapi.responses import Response

from p2phd.serve.api.deps import PNG, RGBA_FRAME, EditorDep, MapsForm, SessionDep
from p2phd.serve.api.schemas import (
    Delete,
    Edit,
    Fill,
    Move,
    NewScene,
    SessionInfo,
    SetClass,
    SetStyle,
    Stroke,
)
from p2phd.serve.editor import Editor, Frame
from p2phd.serve.errors import ClientError
from p2phd.serve.pngio import encode_png
from p2phd.serve.session import Session

router = APIRouter(prefix="/api/sessions", tags=["sessions"])


@router.post("", status_code=201)
async def create_session(editor: EditorDep, scene: NewScene | None = None) -> SessionInfo:
    """A new session on a synthetic street scene drawn from `seed`."""
    scene = scene or NewScene()
    labels, instances = await asyncio.to_thread(editor.scene, scene.seed, scene.height, scene.width)
    session = await asyncio.to_thread(editor.store.create, labels, instances, scene.seed)
    return SessionInfo.of(editor.store.add(session))


@router.post("/upload", status_code=201)
async def create_session_from_upload(editor: EditorDep, maps: MapsForm) -> SessionInfo:
    """A new session on an uploaded labelIds (+ instanceIds) PNG pair."""
    session = await asyncio.to_thread(editor.store.create, maps.labels, maps.instances, maps.seed)
    return SessionInfo.of(editor.store.add(session))


@router.get("/{session_id}")
async def session_info(session: SessionDep) -> SessionInfo:
    return SessionInfo.of(session)


@router.delete("/{session_id}", status_code=204)
async def delete_session(session: SessionDep, editor: EditorDep) -> Response:
    editor.store.delete(session.id)
    return Response(status_code=204)


@router.post("/{session_id}/scene")
async def new_scene(session: SessionDep, editor: EditorDep, scene: NewScene) -> SessionInfo:
    """Replaces the maps with a synthetic scene; the history starts afresh."""
    labels, instances = await asyncio.to_thread(editor.scene, scene.seed, scene.height, scene.width)
    return await replace_maps(session, editor, labels, instances, scene.seed)


@router.put("/{session_id}/maps")
async def upload_maps(session: SessionDep, editor: EditorDep, maps: MapsForm) -> SessionInfo:
    """Replaces the maps with an uploaded pair; the history starts afresh."""
    return await replace_maps(session, editor, maps.labels, maps.instances, maps.seed)


async def replace_maps(
    session: Session, editor: Editor, labels: np.ndarray, instances: np.ndarray, seed: int
) -> SessionInfo:
    editor.store.check_footprint(labels, instances)
    await asyncio.to_thread(session.load, labels, instances, seed)
    editor.store.enforce_limits(keep=session.id)
    return SessionInfo.of(session)


@router.post("/{session_id}/edits")
async def edit(session: SessionDep, editor: EditorDep, body: Edit) -> SessionInfo:
    """One edit, as a small request: a stroke is its points, never a whole image."""
    await asyncio.to_thread(apply_edit, session, body, editor.settings.max_stroke_points)
    editor.store.enforce_limits(keep=session.id)
    return SessionInfo.of(session)


@router.post("/{session_id}/edits/frame", response_class=Response, responses=RGBA_FRAME)
async def edit_and_frame(session: SessionDep, editor: EditorDep, body: Edit) -> Response:
    """One edit, answered with the new state's frame (as GET .../frame) and the session as
    SessionInfo JSON in the X-Session header: what the editor page sends, one round trip
    from the end of a stroke to the pixels."""
    await asyncio.to_thread(apply_edit, session, body, editor.settings.max_stroke_points)
    editor.store.enforce_limits(keep=session.id)
    info = SessionInfo.of(session).model_dump_json()
    return frame_response(await editor.frame(session), {"X-Session": info})


def apply_edit(session: Session, body: Edit, max_points: int) -> None:
    """Runs on a worker thread, with the session's lock held by the request."""
    if isinstance(body, Stroke):
        if len(body.points) > max_points:
            raise ClientError(413, f"a stroke may have at most {max_points} points")
        session.stroke(body.points, body.radius, body.label, body.instance)
    elif isinstance(body, Fill):
        session.fill(body.x, body.y, body.label)
    elif isinstance(body, SetClass):
        session.set_class(body.instance, body.label)
    elif isinstance(body, Delete):
        session.delete(body.instance)
    elif isinstance(body, Move):
        session.move(body.instance, body.dx, body.dy, body.duplicate)
    elif isinstance(body, SetStyle):
        session.set_style(body.instance, body.cluster)


@router.post("/{session_id}/undo")
async def undo(session: SessionDep) -> SessionInfo:
    await asyncio.to_thread(session.undo)
    return SessionInfo.of(session)


@router.post("/{session_id}/redo")
async def redo(session: SessionDep) -> SessionInfo:
    await asyncio.to_thread(session.redo)
    return SessionInfo.of(session)


@router.post("/{session_id}/reset")
async def reset(session: SessionDep, editor: EditorDep) -> SessionInfo:
    """Back to the maps as loaded (one undoable step)."""
    await asyncio.to_thread(session.reset)
    editor.store.enforce_limits(keep=session.id)
    return SessionInfo.of(session)


@router.get("/{session_id}/render.png", response_class=Response, responses=PNG)
async def render(session: SessionDep, editor: EditorDep) -> Response:
    """The current maps rendered; the last 8 states rendered are kept, so undo and redo
    answer at once with the very same image. Headers: X-Render-Ms, the time from the request
    to the encoded PNG, and X-Runtime-Ms, the Runtime call's share of it (both 0 when kept)."""
    png, total_ms, runtime_ms = await editor.render_png(session)
    headers = {
        "X-Render-Ms": f"{total_ms:.1f}",
        "X-Runtime-Ms": f"{runtime_ms:.1f}",
        "Cache-Control": "no-store",
    }
    return Response(png, media_type="image/png", headers=headers)


@router.get("/{session_id}/frame", response_class=Response, responses=RGBA_FRAME)
async def render_frame(session: SessionDep, editor: EditorDep) -> Response:
    """What the editor page draws after each edit, in one response and with nothing to
    decode: the render, then the label colours (as colors.png), each H x W x 4 RGBA bytes,
    row by row. Headers: X-Height, X-Width, X-Version (the state shown), X-Render-Ms and
    X-Runtime-Ms (as for render.png; both 0 for a state rendered before)."""
    return frame_response(await editor.frame(session))


def frame_response(frame: Frame, headers: dict[str, str] | None = None) -> Response:
    headers = {
        **(headers or {}),
        "X-Height": str(frame.height),
        "X-Width": str(frame.width),
        "X-Version": str(frame.version),
        "X-Render-Ms": f"{frame.total_ms:.1f}",
        "X-Runtime-Ms": f"{frame.runtime_ms:.1f}",
        "Cache-Control": "no-store",
    }
    return Response(frame.pixels, media_type="application/octet-stream", headers=headers)


@router.get("/{session_id}/labels.png", response_class=Response, responses=PNG)
async def labels_png(session: SessionDep, editor: EditorDep) -> Response:
    """The labelIds map as an 8-bit PNG."""
    return await _png(session.labels.copy(), editor)


@router.get("/{session_id}/instances.png", response_class=Response, responses=PNG)
async def instances_png(session: SessionDep, editor: EditorDep) -> Response:
    """The instanceIds map as a 16-bit PNG, as Cityscapes stores it."""
    if int(session.instances.max()) > np.iinfo(np.uint16).max:
        raise ClientError(409, "instance ids above 65535 do not fit a 16-bit PNG")
    return await _png(session.instances.astype(np.uint16), editor)


@router.get("/{session_id}/colors.png", response_class=Response, responses=PNG)
async def colors_png(session: SessionDep, editor: EditorDep) -> Response:
    """The label map in the model's class colours, instance boundaries darkened."""
    return await _png(await asyncio.to_thread(editor.colors, session), editor)


async def _png(array: np.ndarray, editor: EditorDep) -> Response:
    png = await asyncio.to_thread(encode_png, array, editor.settings.png_compress_level)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})
