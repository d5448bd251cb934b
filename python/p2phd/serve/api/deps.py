# SPDX-License-Identifier: Apache-2.0
"""Typed dependencies shared by the routers, and the bounded reading of uploads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, NamedTuple

import numpy as np
from fastapi import Depends, File, Form, Request, UploadFile

from p2phd.serve.editor import Editor
from p2phd.serve.errors import ClientError
from p2phd.serve.pngio import check_pair, decode_instances, decode_labels
from p2phd.serve.session import Session


def get_editor(request: Request) -> Editor:
    return request.app.state.editor


EditorDep = Annotated[Editor, Depends(get_editor)]


async def get_session(session_id: str, editor: EditorDep) -> AsyncIterator[Session]:
    """The session, its lock held until the request is answered (see Session.lock)."""
    session = editor.store.get(session_id)
    async with session.lock:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

LabelsFile = Annotated[UploadFile, File(description="labelIds PNG (8-bit)")]
InstancesFile = Annotated[UploadFile | None, File(description="instanceIds PNG (16-bit)")]
SeedForm = Annotated[int, Form(ge=0, le=2**31 - 1, description="draws each instance's style")]

PNG = {200: {"content": {"image/png": {}}, "description": "a PNG image"}}
RGBA_FRAME = {
    200: {
        "content": {"application/octet-stream": {}},
        "description": "raw RGBA: the render, then the label colours",
    }
}


async def read_upload(upload: UploadFile, what: str, limit: int) -> bytes:
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise ClientError(413, f"the {what} is larger than this server's {limit} byte cap")
    if not data:
        raise ClientError(400, f"the {what} is empty")
    return data


class UploadedMaps(NamedTuple):
    labels: np.ndarray  # H x W uint8
    instances: np.ndarray  # H x W int32
    seed: int


async def uploaded_maps(
    editor: EditorDep,
    labels: LabelsFile,
    instances: InstancesFile = None,
    seed: SeedForm = 0,
) -> UploadedMaps:
    """The form of every route that takes maps: a labelIds (+ instanceIds) PNG pair, checked,
    and the seed. Without an instance map every pixel's instance is its label (all stuff).
    Decoded on a worker thread: a large PNG takes a while."""
    limit = editor.settings.max_upload_bytes
    label_data = await read_upload(labels, "label map", limit)
    instance_data = (
        None if instances is None else await read_upload(instances, "instance map", limit)
    )
    label_map, instance_map = await asyncio.to_thread(
        decode_maps, label_data, instance_data, editor.model.label_nc, editor.settings.max_side
    )
    return UploadedMaps(label_map, instance_map, seed)


MapsForm = Annotated[UploadedMaps, Depends(uploaded_maps)]


def decode_maps(
    label_data: bytes, instance_data: bytes | None, label_nc: int, max_side: int
) -> tuple[np.ndarray, np.ndarray]:
    label_map = decode_labels(label_data, label_nc, max_side)
    if instance_data is None:
        instance_map = label_map.astype(np.int32)
    else:
        instance_map = decode_instances(instance_data, max_side)
    check_pair(label_map, instance_map, label_nc)
    return label_map, instance_map
