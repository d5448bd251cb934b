# SPDX-License-Identifier: Apache-2.0
"""Append-only logs of whole lines (a folder render's manifest, a training run's loss log):
a reader finds whole lines only, whatever stopped the writer.

A log is opened unbuffered, so that each line reaches the file as it is appended. A last line
without its end, which a machine stopped while writing it leaves, is cut off when the log is
opened again; a line that cannot be written whole (a full disk, a file size limit) is taken
back, so that the next one starts on a line of its own.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO

_BLOCK = 4096


def open_line_log(path: str | os.PathLike[str]) -> BinaryIO:
    """`path` opened for appending whole lines (created where there is none), its torn last
    line, if it has one, cut off first."""
    log = Path(path).open("a+b", buffering=0)
    try:
        _cut_torn_line(log)
    except BaseException:
        log.close()
        raise
    return log


def _cut_torn_line(log: BinaryIO) -> None:
    size = os.fstat(log.fileno()).st_size
    end = size
    while end > 0:  # back from the end, a block at a time, to the last line end
        start = max(0, end - _BLOCK)
        log.seek(start)
        block = log.read(end - start)
        if end == size and block.endswith(b"\n"):
            return
        found = block.rfind(b"\n")
        if found >= 0:
            end = start + found + 1
            break
        end = start
    os.ftruncate(log.fileno(), end)


def append_line(log: BinaryIO, line: str) -> None:
    """Appends `line` and its end to a log of open_line_log, whole or not at all: where it
    cannot be written whole the log is cut back to its size before and the OSError raised."""
    data = (line + "\n").encode()
    descriptor = log.fileno()
    size = os.fstat(descriptor).st_size
    try:
        written = 0
        while written < len(data):
            written += os.write(descriptor, data[written:])
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(descriptor, size)
        raise
