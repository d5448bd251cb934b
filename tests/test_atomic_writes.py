# SPDX-License-Identifier: Apache-2.0
"""The one atomic writer (issue 24): it replaces regular files only, never a folder, a device,
a FIFO or what a link points to that is one of them; and a save with clean_stale removes the
temporaries that killed saves of its files left, never those of a writer that still runs."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from p2phd.atomic import atomic_paths, atomic_write, process_alive, remove_dead_temporaries
from p2phd.image_io import write_png


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("kind", ["fifo", "folder", "link to a fifo"])
def test_only_regular_files_are_replaced(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "out.png"
    if kind == "fifo":
        _fifo(target)
    elif kind == "folder":
        target.mkdir()
    else:
        target.symlink_to(_fifo(tmp_path / "fifo"))
    before = os.lstat(target).st_mode
    with pytest.raises(OSError, match="not replaced"):
        write_png(target, np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(OSError, match="not replaced"), atomic_paths(tmp_path / "ok", target):
        pass
    assert os.lstat(target).st_mode == before
    assert not (tmp_path / "ok").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_link_to_a_regular_file_is_replaced_as_before(tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_bytes(b"old")
    link = tmp_path / "link.txt"
    link.symlink_to(tmp_path / "real.txt")
    with atomic_write(link) as handle:
        handle.write(b"new")
    assert link.read_bytes() == b"new" and stat.S_ISREG(os.lstat(link).st_mode)


def _dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout)


def _temporaries_host(target: Path) -> str:
    """The host part of this process's temporaries' names (`.NAME.HOST-PID.RANDOM.tmp`), read
    from one that atomic_write makes for `target`."""
    with atomic_write(target) as handle:
        handle.write(b"x")
        ours = next(p.name for p in target.parent.iterdir() if p.name.endswith(".tmp"))
    return ours[len(f".{target.name}.") :].split("-")[0]


def test_clean_stale_removes_only_what_dead_writers_left(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    host = _temporaries_host(target)
    dead = tmp_path / f".model.onnx.{host}-{_dead_pid()}.0123abcd.tmp"
    alive = tmp_path / f".model.onnx.{host}-{os.getpid()}.4567abcd.tmp"
    elsewhere = tmp_path / f".model.onnx.0000ffff-{_dead_pid()}.89abcdef.tmp"
    other_file = tmp_path / f".other.onnx.{host}-{_dead_pid()}.0123abcd.tmp"
    for path in (dead, alive, elsewhere, other_file):
        path.write_bytes(b"left")
    with atomic_write(target) as handle:  # images and the like: no listing of the folder
        handle.write(b"y")
    assert dead.exists()
    with atomic_write(target, clean_stale=True) as handle:
        handle.write(b"z")
    assert not dead.exists()
    assert alive.exists() and elsewhere.exists() and other_file.exists()
    assert target.read_bytes() == b"z"


def test_process_alive_tells_a_running_process_from_an_ended_one() -> None:
    assert process_alive(os.getpid())
    assert not process_alive(_dead_pid())


def test_remove_dead_temporaries_takes_only_dead_writers_files_and_folders(
    tmp_path: Path,
) -> None:
    host = _temporaries_host(tmp_path / "a.png")
    dead_file = tmp_path / f".b.png.{host}-{_dead_pid()}.0123abcd.tmp"
    dead_folder = tmp_path / f".3.{host}-{_dead_pid()}.4567abcd.tmp"
    alive = tmp_path / f".c.png.{host}-{os.getpid()}.89abcdef.tmp"
    elsewhere = tmp_path / f".d.png.0000ffff-{_dead_pid()}.0123abcd.tmp"
    users = [tmp_path / ".notes.tmp", tmp_path / "e.png", tmp_path / f"f.{host}-1.00.tmp"]
    for path in (dead_file, alive, elsewhere, *users):
        path.write_bytes(b"left")
    dead_folder.mkdir()
    (dead_folder / "model.onnx").write_bytes(b"half")
    removed = remove_dead_temporaries(tmp_path)
    assert sorted(removed) == sorted([dead_file, dead_folder])
    assert not dead_file.exists() and not dead_folder.exists()
    assert all(path.exists() for path in (alive, elsewhere, *users))
    assert remove_dead_temporaries(tmp_path / "missing") == []
