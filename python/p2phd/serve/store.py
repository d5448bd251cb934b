# SPDX-License-Identifier: Apache-2.0
"""All sessions of a server: unguessable ids, least-recently-used eviction past a count and a
memory cap, and a clear answer for ids that were evicted."""

from __future__ import annotations

import collections
import logging
import secrets

import numpy as np

from p2phd.serve.errors import ClientError
from p2phd.serve.session import EditorModel, Session

log = logging.getLogger("p2phd.serve")


class SessionStore:
    def __init__(
        self, model: EditorModel, max_sessions: int, max_bytes: int, max_history: int
    ) -> None:
        self.model = model
        self.max_sessions = max_sessions
        self.max_bytes = max_bytes
        self.max_history = max_history
        self._sessions: collections.OrderedDict[str, Session] = collections.OrderedDict()
        self._evicted: collections.deque[str] = collections.deque(maxlen=1024)

    def __len__(self) -> int:
        return len(self._sessions)

    @property
    def nbytes(self) -> int:
        return sum(session.nbytes for session in self._sessions.values())

    def create(self, labels: np.ndarray, instances: np.ndarray, seed: int) -> Session:
        """A new session on these maps, not yet in the store: safe on any thread."""
        self.check_footprint(labels, instances)
        session_id = secrets.token_urlsafe(18)  # 144 random bits
        return Session.create(session_id, self.model, labels, instances, seed, self.max_history)

    def check_footprint(self, labels: np.ndarray, instances: np.ndarray) -> None:
        """413 for maps that alone (with their copy as loaded) exceed the memory cap."""
        if 2 * (labels.nbytes + instances.nbytes) > self.max_bytes:
            raise ClientError(413, "these maps alone exceed the server's session memory cap")

    def add(self, session: Session) -> Session:
        """Keeps a session made by create(); on the event loop's thread only."""
        self._sessions[session.id] = session
        self.enforce_limits(keep=session.id)
        return session

    def get(self, session_id: str) -> Session:
        session = self._sessions.get(session_id)
        if session is None:
            if session_id in self._evicted:
                raise ClientError(
                    404,
                    "this session was evicted (too many sessions or too much memory); "
                    "start a new one",
                )
            raise ClientError(404, "unknown session")
        self._sessions.move_to_end(session_id)
        return session

    def delete(self, session_id: str) -> None:
        self.get(session_id)
        del self._sessions[session_id]

    def enforce_limits(self, keep: str) -> None:
        """Evicts the least recently used sessions (never `keep`) while over a limit; if `keep`
        alone is over the memory cap, its older cached renders and undo steps go."""
        while len(self._sessions) > self.max_sessions or self.nbytes > self.max_bytes:
            oldest = next(iter(self._sessions))
            if oldest == keep:
                if len(self._sessions) > 1:
                    self._sessions.move_to_end(keep)
                    continue
                if not self._sessions[keep].shed_memory():
                    return
                continue
            del self._sessions[oldest]
            self._evicted.append(oldest)
            log.info("evicted session %s… (%d sessions left)", oldest[:6], len(self._sessions))
