# SPDX-License-Identifier: Apache-2.0
"""The one error type the editor's modules raise for a client's mistake; the app turns it into
a 4xx JSON answer, so these modules need no web framework."""

from __future__ import annotations


class ClientError(ValueError):
    """Bad input from a client, or a request the server cannot take now (503, 504): `status`
    is the HTTP status to answer with, `headers` any to send with it (Retry-After)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
