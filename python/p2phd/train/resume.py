# SPDX-License-Identifier: Apache-2.0
"""Reading what --continue_train resumes from, refusing what does not fit: files that are
empty, cut short, hold pickled objects, a training state of the wrong shape, or weights
from another save than the state (a mixed set); every error names the file. Then the
optimizers, scaler and random generators are set back to where the run was saved."""

from __future__ import annotations

import pickle
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from p2phd.atomic import file_sha256

# The train_state key that records {weights file name: sha256} of the save it belongs to.
SET_DIGESTS = "weights_sha256"


class ResumeError(ValueError):
    """A checkpoint that --continue_train cannot resume from; the message names the file."""


def first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def load_resume_file(path: Path) -> Any:
    """torch.load restricted to tensors, numbers and containers (loading never runs code),
    with errors that name the file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ResumeError(
            f"--continue_train: {path} holds objects other than tensors, numbers and "
            "containers; refused (loading it could run code)"
        ) from error
    except (EOFError, RuntimeError, ValueError, OSError) as error:
        reason = "empty" if path.stat().st_size == 0 else "cut short or not a torch file"
        raise ResumeError(f"--continue_train: cannot read {path}: {reason}") from error


# What a train_state file must hold (p2phd-train writes it in Trainer.save).
_TRAIN_STATE_TYPES: dict[str, type | tuple[type, ...]] = {
    "epoch": int,
    "epoch_iter": int,
    "total_steps": int,
    "iteration": int,
    "fixed_global": bool,
    "optimizer_G": dict,
    "optimizer_D": dict,
    "scaler": dict,
    "rng": dict,
}
_RNG_TYPES: dict[str, type | tuple[type, ...]] = {
    "python": (tuple, list),
    "numpy": (tuple, list),
    "torch": torch.Tensor,
}


def check_train_state(state: Any, path: Path) -> dict[str, Any]:
    def refuse(what: str) -> ResumeError:
        return ResumeError(f"--continue_train: {path} is not a p2phd training state: {what}")

    if not isinstance(state, dict):
        raise refuse(f"a {type(state).__name__}, not a dict")
    for table, expected in ((state, _TRAIN_STATE_TYPES), (state.get("rng"), _RNG_TYPES)):
        for key, kind in expected.items():
            if key not in table:
                raise refuse(f"no {key!r}")
            value = table[key]
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise refuse(f"{key!r} is a {type(value).__name__}")
    if state["epoch"] < 1 or min(state["epoch_iter"], state["total_steps"], state["iteration"]) < 0:
        raise refuse("negative counters")
    return state


def set_digests(written: Mapping[Path, Path]) -> dict[str, str]:
    """{target name: sha256} of the weights files of one save, from {target: written file}."""
    return {target.name: file_sha256(path) for target, path in written.items()}


def check_same_save(state: Mapping[str, Any], weights: Sequence[Path], state_path: Path) -> None:
    """ResumeError when a weights file is not the one the state was saved with: a set mixed
    by a save killed between its renames. States of older p2phd record nothing to check."""
    recorded = state.get(SET_DIGESTS)
    if recorded is None:
        return
    for path in weights:
        if not isinstance(recorded, dict) or recorded.get(path.name) != file_sha256(path):
            raise ResumeError(
                f"--continue_train: {path} and {state_path.name} are a mixed set: they come "
                "from different saves (a save killed between its renames?); resume from "
                "another --which_epoch, or train from the start"
            )


def load_resume_weights(
    directory: Path, which: str, nets: Mapping[str, torch.nn.Module | None]
) -> list[Path]:
    """Load `<which>_net_<role>.pth` into each net of {role: net}; returns the files read."""
    g_path = directory / f"{which}_net_G.pth"
    if not g_path.is_file():
        raise FileNotFoundError(f"--continue_train: no {g_path}")
    weights: list[Path] = []
    for role, net in nets.items():
        if net is None:
            continue
        path = directory / f"{which}_net_{role}.pth"
        weights.append(path)
        state = load_resume_file(path)
        try:
            net.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as error:
            raise ResumeError(
                f"--continue_train: {path} does not fit this network (were the options "
                f"of the run that saved it different?): {first_line(error)}"
            ) from error
    return weights


def load_train_state(path: Path, weights: Sequence[Path]) -> dict[str, Any]:
    """The checked training state of `path`, saved together with `weights`."""
    state = check_train_state(load_resume_file(path), path)
    check_same_save(state, weights, path)
    return state


@dataclass
class Resumed:
    """Where a checkpoint resumes: its counters and the checked training state (None for
    a checkpoint of weights and iter.txt only, resumed with fresh optimizers)."""

    epoch: int
    epoch_iter: int
    state: dict[str, Any] | None
    state_path: Path


def load_checkpoint(
    directory: Path,
    which: str,
    nets: Mapping[str, torch.nn.Module | None],
    log: Callable[[str], None],
) -> Resumed:
    """--continue_train: the weights into `nets`, and where the run resumes."""
    weights = load_resume_weights(directory, which, nets)
    state_path = directory / f"{which}_train_state.pth"
    if state_path.is_file():
        state = load_train_state(state_path, weights)
        resumed = Resumed(state["epoch"], state["epoch_iter"], state, state_path)
    else:
        resumed = Resumed(1, 0, None, state_path)
        iter_path = directory / "iter.txt"
        if iter_path.is_file():
            resumed.epoch, resumed.epoch_iter = (
                int(v) for v in np.loadtxt(iter_path, delimiter=",", dtype=int)
            )
        log(
            f"no {state_path.name}: resuming from the weights and iter.txt only "
            "(fresh optimizers, not an exact resume)"
        )
    log(f"resuming from epoch {resumed.epoch}, epoch_iter {resumed.epoch_iter}")
    return resumed


def restore_rng(rng: Mapping[str, Any], device: torch.device) -> None:
    """Set the generators back to what rng_state returned."""
    version, internal, gauss = rng["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(rng["torch"])
    if rng.get("cuda") is not None and device.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda"], device)


def restore_training_state(
    resumed: Resumed,
    *,
    optimizer_g: torch.optim.Optimizer | None,
    optimizer_d: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    device: torch.device,
) -> None:
    """Optimizers (G's unless None: a fresh one), scaler and RNG from the training state."""
    state = resumed.state
    assert state is not None
    try:
        if optimizer_g is not None:
            optimizer_g.load_state_dict(state["optimizer_G"])
        optimizer_d.load_state_dict(state["optimizer_D"])
        scaler.load_state_dict(state["scaler"])
        restore_rng(state["rng"], device)
    except (ValueError, TypeError, KeyError, IndexError, RuntimeError) as error:
        raise ResumeError(
            f"--continue_train: {resumed.state_path} does not fit this run: {first_line(error)}"
        ) from error


def nothing_left(epoch: int, last_epoch: int, iteration: int, max_iters: int) -> str | None:
    """Why a run resumed at `epoch` and `iteration` has nothing to train; None if it has."""
    if epoch > last_epoch:
        return f"the checkpoint has trained all {last_epoch} epochs of the schedule"
    if max_iters and iteration >= max_iters:
        return f"--max_iters {max_iters}: the checkpoint is at iteration {iteration}"
    return None
