# SPDX-License-Identifier: Apache-2.0
"""The limits and knobs of one p2phd-serve instance."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """Everything create_app() needs besides the Runtime; the defaults suit one workstation."""

    max_batch: int = 8  # renders of equal size joined into one Runtime call
    max_wait_ms: float = 5.0  # how long the first render of a batch waits for company
    max_sessions: int = 32  # the least recently used session goes beyond this
    max_memory_mb: float = 512.0  # maps + undo history + cached renders of all sessions
    max_upload_mb: float = 16.0  # one uploaded PNG
    max_side: int = 2048  # largest height or width of a map
    max_history: int = 200  # undo steps kept per session
    max_stroke_points: int = 4096
    scene_size: tuple[int, int] = (256, 512)  # new synthetic scenes, H x W
    png_compress_level: int = 1  # renders go out fast rather than small

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {self.max_batch}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {self.max_wait_ms}")
        if self.max_sessions < 1 or self.max_memory_mb <= 0 or self.max_upload_mb <= 0:
            raise ValueError("max_sessions, max_memory_mb and max_upload_mb must be positive")
        if not 8 <= self.max_side:
            raise ValueError(f"max_side must be at least 8, got {self.max_side}")

    @property
    def max_memory_bytes(self) -> int:
        return int(self.max_memory_mb * 2**20)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)
