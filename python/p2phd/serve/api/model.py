# SPDX-License-Identifier: Apache-2.0
"""GET /health and GET /api/model: readiness and what the editor needs to know of the model."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from p2phd.serve.api.deps import EditorDep
from p2phd.serve.api.schemas import ClassInfo, ModelInfo

router = APIRouter(tags=["model"])


@router.get("/health", responses={503: {"description": "still warming up, or its warm-up failed"}})
async def health(editor: EditorDep) -> JSONResponse:
    """200 once the model has rendered its warm-up scene, 503 before (or, with the reason in
    `detail`, when the warm-up render failed)."""
    if editor.warm_up_error is not None:
        return JSONResponse(
            {"status": "warm-up failed", "detail": editor.warm_up_error}, status_code=503
        )
    if not editor.ready.is_set():
        return JSONResponse({"status": "warming up"}, status_code=503)
    stats = editor.queue.stats
    return JSONResponse(
        {
            "status": "ok",
            "sessions": len(editor.store),
            "render_calls": stats.calls,
            "rendered_maps": stats.maps,
            "max_batch": editor.queue.max_batch,
        }
    )


@router.get("/api/model")
async def model_info(editor: EditorDep) -> ModelInfo:
    model, settings = editor.model, editor.settings
    labels = model.labels
    classes = [
        ClassInfo(
            id=index,
            name=labels.names[index],
            color=tuple(int(c) for c in labels.palette[index]),
            thing=labels.is_thing(index),
            styles=model.style_count(index * 1000 if labels.is_thing(index) else index),
        )
        for index in range(model.label_nc)
    ]
    return ModelInfo(
        description=editor.runtime.describe(),
        precision=editor.runtime.precision,
        label_nc=model.label_nc,
        use_instance=model.use_instance,
        feature_model=bool(model.feat_num),
        photo_styles=editor.photo_styles,
        classes=classes,
        scene_size=settings.scene_size,
        max_side=settings.max_side,
        max_upload_bytes=settings.max_upload_bytes,
        max_batch=settings.max_batch,
        max_wait_ms=settings.max_wait_ms,
        max_queue=settings.max_queue,
        render_timeout_s=settings.render_timeout_s,
    )
