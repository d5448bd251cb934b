# SPDX-License-Identifier: Apache-2.0
"""create_app(settings, runtime): the FastAPI app of p2phd-serve, with the editor page."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from p2phd import __version__
from p2phd.runtime import Runtime
from p2phd.serve.api import model, objects, render, sessions
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
        return JSONResponse({"detail": error.message}, status_code=error.status)

    @app.exception_handler(Exception)
    async def server_error(request: Request, error: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path, exc_info=error)
        return JSONResponse({"detail": "internal server error; see the log"}, status_code=500)

    @app.middleware("http")
    async def upload_cap(request: Request, call_next):
        # Two PNGs and the form around them; refused before the body is read.
        length = request.headers.get("content-length")
        if length is not None and length.isdigit():
            if int(length) > 2 * settings.max_upload_bytes + 65536:
                return JSONResponse(
                    {"detail": f"request body of {length} bytes exceeds the upload cap"},
                    status_code=413,
                )
        return await call_next(request)

    for router in (model.router, sessions.router, objects.router, render.router):
        app.include_router(router)
    # After the API, so that /api/... and /health win over files.
    app.mount("/", StaticFiles(directory=STATIC, html=True), name="editor")
    return app
