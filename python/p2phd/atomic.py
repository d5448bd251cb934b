# SPDX-License-Identifier: Apache-2.0
"""Atomic file writes: a file appears whole under its name, or the previous one stays.

Every file p2phd writes (images, bundles, cluster files, public checkpoints) goes through
here. A file is written under a temporary name beside its target, fsynced, then renamed into
place. Temporary files are created with mode 0666 minus the umask, as `open()` creates files
(0644 under umask 022), not mkstemp's 0600. Several files that belong together (a bundle
directory's config and weights) are renamed in one step with SIGINT and SIGTERM held back,
so an interrupt leaves the old set or the new one. A SIGTERM while writing removes the
temporary files, then ends the process as SIGTERM would have. Only regular files are ever
replaced: a target that is a folder, a device, a FIFO or a socket is refused before anything
is written (`check_replaceable`), so `--out /dev/null` cannot replace the machine's /dev/null.

A temporary file's name says who writes it (`.NAME.HOST-PID.RANDOM.tmp`), so that a save with
`clean_stale` removes what a killed save of the same file left, and nothing of a writer that
still runs; a run that writes many files into a folder (a folder render, p2phd-synth, a
Triton version, a training run) removes every killed writer's temporaries there first
(`remove_dead_temporaries`), since it would not list the folder for each file. A hard kill
between the renames of a set leaves some new files and some old: sets record digests of
their members (`file_sha256`) to be refused as mixed when read.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import shutil
import signal
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

__all__ = [
    "atomic_path",
    "atomic_paths",
    "atomic_write",
    "check_replaceable",
    "file_sha256",
    "process_alive",
    "remove_dead_temporaries",
    "remove_stale_temporaries",
    "set_rename_hook",
    "temporary_folder",
]

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


def check_replaceable(path: str | os.PathLike[str]) -> None:
    """OSError naming `path` when something other than a regular file is there (a folder, a
    device, a FIFO, a socket, or a link to one): p2phd writes only regular files."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return  # nothing there (a dangling link is replaced like a missing file)
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file; not replaced", str(path))
    if not stat.S_ISREG(mode):
        raise FileExistsError(
            errno.EEXIST,
            "is not a regular file (a device, FIFO or socket); not replaced",
            str(path),
        )


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes, read in chunks: what a member of a set of files written
    together records of the others, so that a mixed set is found when read."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def set_rename_hook(hook: Callable[[Path], None] | None) -> None:
    """Calls `hook(target)` after each rename of a set (None: no hook). For fault-injection
    tests: a hook that ends the process between two renames leaves a mixed set behind."""
    global _rename_hook
    _rename_hook = hook


_rename_hook: Callable[[Path], None] | None = None


def _owner() -> str:
    """Who writes a temporary file: this host (a short digest of its name) and process."""
    host = hashlib.sha256(socket.gethostname().encode(errors="replace")).hexdigest()[:8]
    return f"{host}-{os.getpid()}"


def process_alive(pid: int) -> bool:
    """Whether process `pid` of this host still runs (one of another user's counts too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _dead_writers_temporary(name: str) -> bool:
    """Whether `name` is a temporary (`.NAME.HOST-PID.RANDOM.tmp`) of a process of this
    host that no longer runs."""
    if not (name.startswith(".") and name.endswith(".tmp")):
        return False
    owner = name[: -len(".tmp")].rpartition(".")[0].rpartition(".")[2]
    host, _, pid = owner.partition("-")
    return host == _owner().split("-")[0] and pid.isdigit() and not process_alive(int(pid))


def _remove(path: Path) -> None:
    """Removes a temporary file, or a temporary folder (`temporary_folder`) with its files."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _remove_matching(folder: Path, prefix: str) -> list[Path]:
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed = [
        folder / name for name in names if name.startswith(prefix) and _dead_writers_temporary(name)
    ]
    for path in removed:
        _remove(path)
    return removed


def remove_stale_temporaries(path: str | os.PathLike[str]) -> None:
    """Removes the temporary files (and folders) beside `path` that a killed save of `path`
    left: those of processes of this host that no longer run (another writer's files stay)."""
    path = Path(path)
    _remove_matching(path.parent, f".{path.name}.")


def remove_dead_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Removes every temporary file or folder in `folder` that a killed writer of this host
    left, whatever it was writing, and returns their paths: what a run that writes many
    files into a folder (images, scenes, versions) calls once before it starts, so that a
    killed run's temporaries do not outlive the next one. A live writer's temporaries, and
    another host's, stay."""
    return _remove_matching(Path(folder), ".")


def _create_temporary(path: Path, created: list[Path]) -> None:
    """Creates a new temporary file beside `path` and appends it to `created`; the name is
    listed before the file exists, so that an interrupt cannot leave an unlisted file."""
    while True:
        candidate = path.with_name(f".{path.name}.{_owner()}.{secrets.token_hex(4)}.tmp")
        created.append(candidate)
        try:
            # 0o666: the kernel applies the umask, as for any file open() creates.
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            created.pop()  # another writer's file: not ours to remove
            continue
        os.close(fd)
        return


def temporary_folder(path: str | os.PathLike[str]) -> Path:
    """A new empty folder beside `path`, named like a temporary file of it, with the mode
    mkdir gives (0777 minus the umask, applied by the kernel: the process umask is never
    changed, which would race with other threads' files). Fill it, then rename it onto
    `path`; removing it on failure is the caller's."""
    path = Path(path)
    while True:
        candidate = path.with_name(f".{path.name}.{_owner()}.{secrets.token_hex(4)}.tmp")
        try:
            os.mkdir(candidate, 0o777)
        except FileExistsError:
            continue
        return candidate


def _fsync(path: Path, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_paths(*paths: str | os.PathLike[str], clean_stale: bool = False) -> Iterator[list[Path]]:
    """Temporary paths beside `paths`, renamed onto them together if the block finishes.

    Write each temporary path completely inside the block. On any exception (or SIGTERM)
    the temporary files are removed and the targets keep their previous contents.
    `clean_stale` first removes what killed saves of these paths left (it lists their
    folders: for saves, not for each image of a large folder)."""
    targets = [Path(p) for p in paths]
    with _sigterm_cleans_up():
        temporaries: list[Path] = []
        try:
            for target in targets:
                check_replaceable(target)
                target.parent.mkdir(parents=True, exist_ok=True)
                if clean_stale:
                    remove_stale_temporaries(target)
                _create_temporary(target, temporaries)
            # The mode open() gives a new file; writers that recreate the file (safetensors
            # does, with 0600) get it back before the rename.
            modes = [temporary.stat().st_mode & 0o777 for temporary in temporaries]
            yield list(temporaries)
            for temporary, mode in zip(temporaries, modes, strict=True):
                if temporary.stat().st_mode & 0o777 != mode:
                    os.chmod(temporary, mode)
                _fsync(temporary)
            for target in targets:  # again: the block may have run for long
                check_replaceable(target)
            with _signals_held():
                for temporary, target in zip(temporaries, targets, strict=True):
                    os.replace(temporary, target)
                    if _rename_hook is not None:
                        _rename_hook(target)
                temporaries.clear()
            for folder in {target.parent for target in targets}:
                _fsync(folder, os.O_RDONLY | os.O_DIRECTORY)
        finally:
            for temporary in temporaries:
                with contextlib.suppress(FileNotFoundError):
                    temporary.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, clean_stale: bool = False) -> Iterator[Path]:
    """A temporary path beside `path`, renamed onto it only if the block finishes."""
    with atomic_paths(path, clean_stale=clean_stale) as (temporary,):
        yield temporary


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], *, clean_stale: bool = False) -> Iterator[IO[bytes]]:
    """A binary file object whose contents appear at `path` only if the block finishes."""
    with atomic_path(path, clean_stale=clean_stale) as temporary, open(temporary, "wb") as handle:
        yield handle
