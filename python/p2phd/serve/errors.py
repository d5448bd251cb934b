# SPDX-License-Identifier: Apache-2.0
"""The one error type the editor's modules raise for a client's mistake; the app turns it into
a 4xx JSON answer, so these modules need no web framework."""

from __future__ import annotations


class ClientError(ValueError):
    """Bad input from a client: `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
