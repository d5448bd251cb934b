# SPDX-License-Identifier: Apache-2.0
"""BodyCap: an ASGI middleware that refuses request bodies over a byte cap with 413, before
the app reads them: by Content-Length where the client sends one, else (a chunked body) by
counting while reading, and never reading past the cap. Forms (uploads) have one cap, every
other body (JSON) a smaller one: the app parses JSON on the event loop."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyCap:
    def __init__(self, app: ASGIApp, form_bytes: int, other_bytes: int) -> None:
        self.app = app
        self.form_bytes = form_bytes
        self.other_bytes = other_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        form = headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data")
        cap, name = (self.form_bytes, "upload") if form else (self.other_bytes, "request body")
        length = headers.get(b"content-length")
        if length is not None:
            # The server holds the body to its Content-Length: the header is enough.
            if length.isdigit() and int(length) > cap:
                await self._refuse(
                    send, f"request body of {int(length)} bytes exceeds the {name} cap"
                )
                return
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client left; the app sees an empty body and the disconnect
            body += message.get("body", b"")
            if len(body) > cap:
                await self._refuse(
                    send, f"request body of more than {cap} bytes exceeds the {name} cap"
                )
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _refuse(self, send: Send, detail: str) -> None:
        payload = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),  # the rest of the body is never read
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive() that gives the body read before as one message, then the client's own."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
