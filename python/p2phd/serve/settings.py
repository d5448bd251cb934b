# SPDX-License-Identifier: Apache-2.0
"""The limits and knobs of one p2phd-serve instance."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """Everything create_app() needs besides the Runtime; the defaults suit one workstation."""

    max_batch: int = 8  # renders of equal size joined into one Runtime call
    max_wait_ms: float = 5.0  # how long the first render of a batch waits for company
    max_queue: int = 64  # renders waiting or under way; beyond, 503 with Retry-After
    render_timeout_s: float = 60.0  # a render not done this long after it was asked: 504
    max_sessions: int = 32  # the least recently used session goes beyond this
    max_memory_mb: float = 512.0  # maps + undo history + cached renders of all sessions
    max_upload_mb: float = 16.0  # one uploaded PNG
    max_side: int = 2048  # largest height or width of a map
    max_history: int = 200  # undo steps kept per session
    max_stroke_points: int = 4096
    max_json_bytes: int = 2**20  # a JSON request body (an edit)
    scene_size: tuple[int, int] = (256, 512)  # new synthetic scenes, H x W
    png_compress_level: int = 1  # renders go out fast rather than small

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {self.max_batch}")
        if not 0 <= self.max_wait_ms <= 60_000:
            raise ValueError(f"max_wait_ms must be in [0, 60000], got {self.max_wait_ms}")
        if self.max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, got {self.max_queue}")
        if not 0 < self.render_timeout_s <= 86_400:
            raise ValueError(f"render_timeout_s must be in (0, 86400], got {self.render_timeout_s}")
        if self.max_sessions < 1:
            raise ValueError(f"max_sessions must be at least 1, got {self.max_sessions}")
        # Finite and not absurd: NaN fails every comparison, so these refuse it too.
        if not 0 < self.max_memory_mb <= 2**30:
            raise ValueError(f"max_memory_mb must be in (0, 2**30], got {self.max_memory_mb}")
        if not 0 < self.max_upload_mb <= 4096:
            raise ValueError(f"max_upload_mb must be in (0, 4096], got {self.max_upload_mb}")
        if not 8 <= self.max_side <= 8192:  # 8192: the largest side Runtime renders
            raise ValueError(f"max_side must be in [8, 8192], got {self.max_side}")
        if not all(16 <= side <= self.max_side for side in self.scene_size):
            raise ValueError(
                f"scene_size must be 16 to max_side ({self.max_side}) a side, got "
                f"{self.scene_size[0]}x{self.scene_size[1]}"
            )

    @property
    def max_memory_bytes(self) -> int:
        return int(self.max_memory_mb * 2**20)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2**20)
