# SPDX-License-Identifier: Apache-2.0
"""Progress of a command that loops over items (maps to render, scenes to write).

On a terminal: one line redrawn in place, with a bar, the item's time and the ETA. In a pipe
or a log: one plain line per item (no carriage returns). Always: a summary at the end.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from p2phd.durations import format_seconds

BAR_WIDTH = 24


class Progress:
    """`update(name)` after each item, `finish()` once at the end.

    Example::

        progress = Progress(len(paths), "images", "rendered")
        for path in paths:
            ok = render(path)
            progress.update(path.name, ok=ok)
        progress.finish(f"to {out}")
    """

    def __init__(
        self,
        total: int,
        what: str = "items",
        verb: str = "done",
        stream: TextIO | None = None,
        interactive: bool | None = None,
    ) -> None:
        self.total = total
        self.what = what
        self.verb = verb
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.count = 0
        self.failed = 0
        self.start = time.perf_counter()
        self._last = self.start
        self._drawn = 0  # width of the line on a terminal, to clear it

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def update(self, name: str, ok: bool = True) -> None:
        now = time.perf_counter()
        item_seconds, self._last = now - self._last, now
        self.count += 1
        self.failed += not ok
        remaining = self.total - self.count
        eta = (now - self.start) / self.count * remaining
        status = "" if ok else " FAILED"
        text = (
            f"[{self.count}/{self.total}] {name}{status} {format_seconds(item_seconds)}, "
            f"ETA {format_seconds(eta)}"
        )
        if self.interactive:
            filled = BAR_WIDTH * self.count // max(self.total, 1)
            line = f"|{'#' * filled}{' ' * (BAR_WIDTH - filled)}| {text}"
            self.stream.write("\r" + line.ljust(self._drawn))
            self._drawn = len(line)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def summary(self) -> str:
        done = self.count - self.failed
        elapsed = self.elapsed
        text = f"{done} of {self.total} {self.what} {self.verb} in {format_seconds(elapsed)}"
        if done and elapsed > 0:
            text += f" ({done / elapsed:.2f} {self.what}/s, {elapsed / done:.2f} s each)"
        return text

    def finish(self, where: str = "") -> str:
        """Ends the bar's line and prints (and returns) the summary."""
        if self.interactive and self._drawn:
            self.stream.write("\n")
        text = f"{self.summary()} {where}".rstrip()
        self.stream.write(text + "\n")
        self.stream.flush()
        return text
