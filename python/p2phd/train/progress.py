# SPDX-License-Identifier: Apache-2.0
"""Where training stands, from the first iteration on, whatever --print_freq says about
loss lines: on a terminal one line redrawn in place with a bar; in a pipe or a log plain
lines, the first iteration's at once, then one every `interval` seconds and the last one."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO

from p2phd.durations import format_seconds

BAR_WIDTH = 20


@dataclass(frozen=True)
class Position:
    """Where the run is after an iteration."""

    epoch: int
    epochs: int  # the last epoch of the schedule
    image: int  # images of this epoch seen (epoch_iter)
    images: int  # images per epoch (this process)
    iteration: int
    max_iters: int  # 0: no limit
    iterations_left: int  # until --max_iters or the end of the schedule
    seconds_per_iteration: float  # the mean of this run so far


def schedule_position(
    *,
    epoch: int,
    last_epoch: int,
    epoch_iter: int,
    per_epoch: int,
    batch_size: int,
    iteration: int,
    max_iters: int,
    seconds_per_iteration: float,
) -> Position:
    """The Position of a run, with the iterations left to the schedule or --max_iters."""
    left = -(-(per_epoch - epoch_iter) // batch_size)
    left += (last_epoch - epoch) * -(-per_epoch // batch_size)
    if max_iters:
        left = min(left, max_iters - iteration)
    return Position(
        epoch=epoch,
        epochs=last_epoch,
        image=epoch_iter,
        images=per_epoch,
        iteration=iteration,
        max_iters=max_iters,
        iterations_left=left,
        seconds_per_iteration=seconds_per_iteration,
    )


class TrainProgress:
    """`update(position)` after each iteration, `finish()` at the end.

    Example::

        progress = TrainProgress()  # stderr; a bar when it is a terminal
        trainer = Trainer(opts, progress=progress)
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        interactive: bool | None = None,
        interval: float = 10.0,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.interval = interval
        self._printed_at: float | None = None
        self._pending = ""  # a plain line not printed yet (throttled)
        self._drawn = 0  # width of the line on a terminal, to clear it

    def update(self, position: Position) -> None:
        text = self.describe(position)
        if self.interactive:
            filled = BAR_WIDTH * position.image // max(position.images, 1)
            line = f"|{'#' * filled}{' ' * (BAR_WIDTH - filled)}| {text}"
            self.stream.write("\r" + line.ljust(self._drawn))
            self._drawn = len(line)
            self.stream.flush()
            return
        self._pending = text
        now = time.perf_counter()
        if self._printed_at is None or now - self._printed_at >= self.interval:
            self._write_pending(now)

    @staticmethod
    def describe(position: Position) -> str:
        limit = f"/{position.max_iters}" if position.max_iters else ""
        per_iteration = position.seconds_per_iteration
        eta = format_seconds(per_iteration * position.iterations_left)
        return (
            f"epoch {position.epoch}/{position.epochs}, image {position.image}/"
            f"{position.images}, iteration {position.iteration}{limit}, "
            f"{per_iteration:.2f} s/it, ETA {eta}"
        )

    def clear(self) -> None:
        """Before another line is printed: a terminal's bar line is wiped (it is redrawn at
        the next update)."""
        if self.interactive and self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
            self._drawn = 0

    def finish(self) -> None:
        """Ends the bar's line, or prints the last plain line if it was held back."""
        if self.interactive:
            if self._drawn:
                self.stream.write("\n")
                self.stream.flush()
                self._drawn = 0
        elif self._pending:
            self._write_pending(time.perf_counter())

    def _write_pending(self, now: float) -> None:
        self.stream.write(self._pending + "\n")
        self.stream.flush()
        self._pending, self._printed_at = "", now
