# SPDX-License-Identifier: Apache-2.0
"""Durations as people read them, for every progress line and summary (render, synth, train)."""

from __future__ import annotations


def format_seconds(seconds: float) -> str:
    """3.2 s, 2 min 05 s, 2 h 01 min: a tenth of a second below a minute, then whole units."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
