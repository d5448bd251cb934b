# SPDX-License-Identifier: Apache-2.0
"""A writer killed for real: a command (and its worker processes) ended by SIGKILL at a moment
when one of its atomic writer's temporaries exists, as a machine that stops would leave it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

TIMEOUT_S = 60


def temporaries(folders: Sequence[Path]) -> list[Path]:
    """The atomic writer's temporary files and folders (`.NAME.HOST-PID.RANDOM.tmp`)."""
    found = []
    for folder in folders:
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            continue
        found += [folder / n for n in names if n.startswith(".") and n.endswith(".tmp")]
    return found


def run_p2phd(module: str, *args: str) -> subprocess.CompletedProcess:
    """`python -m p2phd.cli.MODULE ARGS` to its end; its output in the error if it fails."""
    argv = [sys.executable, "-m", f"p2phd.cli.{module}", *args]
    done = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def kill_while_writing(
    module: str, args: Sequence[str], folders: Sequence[Path], started: Callable[[], bool]
) -> list[Path]:
    """Runs `python -m p2phd.cli.MODULE ARGS` in a process group of its own and, once
    `started()` is true (a first output exists), kills the whole group with SIGKILL while a
    temporary exists in one of `folders`: the group is stopped (SIGSTOP) first, so that the
    temporary seen is still there when the kill lands. Returns the temporaries left."""
    argv = [sys.executable, "-m", f"p2phd.cli.{module}", *args]
    log = tempfile.TemporaryFile()  # not a pipe: a full one would stop the writer
    process = subprocess.Popen(argv, stdout=log, stderr=log, env=_env(), start_new_session=True)
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                log.seek(0)
                output = log.read().decode(errors="replace")[-2000:]
                raise AssertionError(f"{module} ended before it was killed: {output}")
            if not (started() and temporaries(folders)):
                time.sleep(0.0005)
                continue
            os.killpg(process.pid, signal.SIGSTOP)
            left = temporaries(folders)
            if left:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                _wait_for_group(process.pid)
                return temporaries(folders)
            os.killpg(process.pid, signal.SIGCONT)
        raise AssertionError(f"{module}: no temporary seen in {TIMEOUT_S} s")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _wait_for_group(group: int) -> None:
    """Until every process of the group (workers too) has ended, so that none still writes."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)
    raise AssertionError(f"process group {group} still runs after SIGKILL")


def _env() -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", P2PHD_TRACEBACK="1")


# A writer stopped half-way: it holds its temporaries (files, or a folder filled before it is
# renamed into place) when it says "ready", and sleeps until it is killed.
_HALF_WRITER = """
import sys, time
from pathlib import Path
from p2phd.atomic import atomic_paths, temporary_folder
folder, targets = sys.argv[1] == "folder", [Path(p) for p in sys.argv[2:]]
if folder:
    targets[0].parent.mkdir(parents=True, exist_ok=True)
    (temporary_folder(targets[0]) / "half").write_bytes(b"half")
    print("ready", flush=True)
    time.sleep(600)
with atomic_paths(*targets) as temporaries:
    for temporary in temporaries:
        temporary.write_bytes(b"half")
    print("ready", flush=True)
    time.sleep(600)
"""


@contextlib.contextmanager
def writing_half_way(*targets: Path, folder: bool = False) -> Iterator[subprocess.Popen]:
    """A real process writing `targets` (or filling a temporary folder for the first, with
    `folder`) for as long as the block runs; SIGKILL ends it when the block does."""
    mode = "folder" if folder else "files"
    argv = [sys.executable, "-c", _HALF_WRITER, mode, *map(str, targets)]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, env=_env())
    try:
        assert process.stdout is not None and process.stdout.readline() == b"ready\n"
        yield process
    finally:
        process.kill()
        process.wait()


def killed_half_way(*targets: Path, folder: bool = False) -> list[Path]:
    """A real process that was writing `targets` (or filling a temporary folder for the
    first, with `folder`), killed by SIGKILL; returns the temporaries it left."""
    with writing_half_way(*targets, folder=folder):
        pass
    return temporaries(sorted({target.parent for target in targets}))
