# SPDX-License-Identifier: Apache-2.0
"""Atomic file writes: a file appears whole under its name, or the previous one stays.

Every file p2phd writes (images, bundles, cluster files, public checkpoints) goes through
here. A file is written under a temporary name beside its target, fsynced, then renamed into
place. Temporary files are created with mode 0666 minus the umask, as `open()` creates files
(0644 under umask 022), not mkstemp's 0600. Several files that belong together (a bundle
directory's config and weights) are renamed in one step with SIGINT and SIGTERM held back,
so an interrupt leaves the old set or the new one. A SIGTERM while writing removes the
temporary files, then ends the process as SIGTERM would have.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_path", "atomic_paths", "atomic_write"]

_HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Terminated(BaseException):
    """SIGTERM arrived while temporary files existed; raised so that they are removed."""


def _in_main_thread() -> bool:
    # Python runs signal handlers in the main thread only, and only there can it set them.
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _sigterm_cleans_up() -> Iterator[None]:
    """SIGTERM (default action: die at once) raises inside the block instead, so that the
    `finally` clauses run; then the process dies of SIGTERM all the same."""
    if not _in_main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise _Terminated

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)
        raise
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM that arrive inside the block are delivered when it ends."""
    if not _in_main_thread():
        yield
        return
    received: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in _HELD_SIGNALS}
    for sig in _HELD_SIGNALS:
        signal.signal(sig, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in received:
            signal.raise_signal(sig)


def _create_temporary(path: Path, created: list[Path]) -> None:
    """Creates a new temporary file beside `path` and appends it to `created`; the name is
    listed before the file exists, so that an interrupt cannot leave an unlisted file."""
    while True:
        candidate = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        created.append(candidate)
        try:
            # 0o666: the kernel applies the umask, as for any file open() creates.
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            created.pop()  # another writer's file: not ours to remove
            continue
        os.close(fd)
        return


def _fsync(path: Path, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_paths(*paths: str | os.PathLike[str]) -> Iterator[list[Path]]:
    """Temporary paths beside `paths`, renamed onto them together if the block finishes.

    Write each temporary path completely inside the block. On any exception (or SIGTERM)
    the temporary files are removed and the targets keep their previous contents."""
    targets = [Path(p) for p in paths]
    with _sigterm_cleans_up():
        temporaries: list[Path] = []
        try:
            for target in targets:
                target.parent.mkdir(parents=True, exist_ok=True)
                _create_temporary(target, temporaries)
            # The mode open() gives a new file; writers that recreate the file (safetensors
            # does, with 0600) get it back before the rename.
            modes = [temporary.stat().st_mode & 0o777 for temporary in temporaries]
            yield list(temporaries)
            for temporary, mode in zip(temporaries, modes, strict=True):
                if temporary.stat().st_mode & 0o777 != mode:
                    os.chmod(temporary, mode)
                _fsync(temporary)
            with _signals_held():
                for temporary, target in zip(temporaries, targets, strict=True):
                    os.replace(temporary, target)
                temporaries.clear()
            for folder in {target.parent for target in targets}:
                _fsync(folder, os.O_RDONLY | os.O_DIRECTORY)
        finally:
            for temporary in temporaries:
                with contextlib.suppress(FileNotFoundError):
                    temporary.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside `path`, renamed onto it only if the block finishes."""
    with atomic_paths(path) as (temporary,):
        yield temporary


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """A binary file object whose contents appear at `path` only if the block finishes."""
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        yield handle
