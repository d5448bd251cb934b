# SPDX-License-Identifier: Apache-2.0
"""create_app(settings, runtime): the FastAPI app of p2phd-serve, with the editor page."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from p2phd import __version__
from p2phd.runtime import Runtime
from p2phd.serve.api import model, objects, render, sessions
from p2phd.serve.body_cap import BodyCap
from p2phd.serve.editor import Editor
from p2phd.serve.errors import ClientError
from p2phd.serve.settings import Settings

STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger("p2phd.serve")


def create_app(settings: Settings, runtime: Runtime) -> FastAPI:
    editor = Editor(settings, runtime)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        editor.queue.start()
        warm_up = asyncio.create_task(editor.warm_up())
        try:
            yield
        finally:
            warm_up.cancel()
            await editor.queue.stop()

    app = FastAPI(
        title="p2phd-serve",
        version=__version__,
        description="The pix2pixHD interactive editor: sessions with server-side label and "
        "instance maps, small edit requests, undo/redo, batched renders.",
        lifespan=lifespan,
    )
    app.state.editor = editor

    @app.exception_handler(ClientError)
    async def client_error(request: Request, error: ClientError) -> JSONResponse:
        return JSONResponse(
            {"detail": error.message}, status_code=error.status, headers=error.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        # The errors quote the input, which may hold NaN or Infinity: strict JSON has neither.
        detail = strict_json(jsonable_encoder(error.errors()))
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(Exception)
    async def server_error(request: Request, error: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path, exc_info=error)
        return JSONResponse({"detail": "internal server error; see the log"}, status_code=500)

    # Two PNGs and the form around them; a JSON edit, whose longest stroke is ~100 KB.
    app.add_middleware(
        BodyCap,
        form_bytes=2 * settings.max_upload_bytes + 65536,
        other_bytes=settings.max_json_bytes,
    )

    for router in (model.router, sessions.router, objects.router, render.router):
        app.include_router(router)
    # After the API, so that /api/... and /health win over files.
    app.mount("/", StaticFiles(directory=STATIC, html=True), name="editor")
    return app


def strict_json(value: Any) -> Any:
    """`value` with every non-finite float as its text ("nan", "inf"), encodable as JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(item) for item in value]
    return value
