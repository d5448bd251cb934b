# SPDX-License-Identifier: Apache-2.0
"""Cluster files (`features_clustered_NNN.npy`: `np.save` of {label: K x feat_num array}).

They are pickles; they are read with an unpickler that can build nothing but dicts, numbers
and numpy arrays, so a crafted file cannot run code.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from p2phd.atomic import atomic_write
from p2phd.checkpoint.model import CheckpointError, Clusters


class _Refused(pickle.UnpicklingError):
    """A cluster pickle asked for something outside what a dict of arrays needs."""


class _ClusterUnpickler(pickle.Unpickler):
    """Builds only what `np.save` of a {label: ndarray} dict needs; refuses every other global.

    The admitted callables are our own wrappers, which check their arguments, not the numpy
    functions themselves, so a crafted pickle cannot reach anything beyond building arrays.
    """

    def find_class(self, module: str, name: str) -> Any:
        allowed = _SAFE_GLOBALS.get((module, name))
        if allowed is None:
            raise _Refused(
                f"refusing to load '{module}.{name}': a cluster file may only hold a dict of "
                "numpy arrays"
            )
        return allowed


def _safe_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not np.ndarray:
        raise _Refused("array reconstruction of a type other than numpy.ndarray")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _safe_scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise _Refused("numpy scalar of an object dtype")
    if isinstance(data, str):  # Python 2 pickles carry raw bytes as latin-1 text
        data = data.encode("latin1")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise _Refused("malformed numpy scalar")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _safe_encode(text: Any, encoding: str = "utf-8") -> bytes:
    # Protocol-2 pickles written by Python 3 store bytes as _codecs.encode(str, 'latin1').
    if not isinstance(text, str) or encoding.lower().replace("-", "") != "latin1":
        raise _Refused("only latin-1 text to bytes conversion is allowed")
    return text.encode("latin1")


def _safe_bytes(*args: Any) -> bytes:
    if args and not (len(args) == 2 and isinstance(args[0], str)):
        raise _Refused("only bytes() or bytes(str, encoding) is allowed")
    return bytes(*args)


_SAFE_GLOBALS: dict[tuple[str, str], Callable[..., Any] | type] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy.core.multiarray", "scalar"): _safe_scalar,
    ("numpy._core.multiarray", "scalar"): _safe_scalar,
    ("_codecs", "encode"): _safe_encode,
    ("builtins", "bytes"): _safe_bytes,
    ("__builtin__", "bytes"): _safe_bytes,
}


def _read_npy_object(stream: IO[bytes], where: str) -> Any:
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    except (ValueError, SyntaxError) as exc:
        raise CheckpointError(f"{where} is not a .npy file: {exc}") from exc
    if dtype != np.dtype(object) or shape != ():
        raise CheckpointError(
            f"{where} holds a {dtype} array of shape {shape}; a cluster file holds one pickled "
            "dict (np.save of {label: array})"
        )
    try:
        # latin1: files written under Python 2 (the public code's era) carry raw array bytes.
        array = _ClusterUnpickler(stream, encoding="latin1").load()
    except _Refused as exc:
        raise CheckpointError(f"{where}: {exc}") from exc
    except Exception as exc:
        raise CheckpointError(
            f"{where} is not a readable cluster file (truncated or corrupted?): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(array, np.ndarray) or array.shape != () or array.dtype != object:
        raise CheckpointError(f"{where} does not hold a 0-d object array wrapping a dict")
    return array.item()


def validate_clusters(data: Any, where: str, feat_num: int | None) -> Clusters:
    """{label: K x feat_num array}, K >= 1 and finite, or a CheckpointError naming `where`."""
    if not isinstance(data, dict):
        raise CheckpointError(f"{where} holds a {type(data).__name__}, not a dict of clusters")
    clusters: Clusters = {}
    for label, centres in data.items():
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or label < 0:
            raise CheckpointError(f"{where}: cluster label {label!r} is not a non-negative int")
        if (
            not isinstance(centres, np.ndarray)
            or centres.ndim != 2
            or centres.dtype.kind not in "fiu"
        ):
            raise CheckpointError(
                f"{where}: clusters of label {label} must be a 2-D numeric array, got "
                f"{getattr(centres, 'dtype', type(centres).__name__)} "
                f"{getattr(centres, 'shape', '')}"
            )
        if feat_num is not None and centres.shape[1] != feat_num:
            raise CheckpointError(
                f"{where}: clusters of label {label} have {centres.shape[1]} features, the "
                f"model has feat_num={feat_num}"
            )
        if centres.shape[0] == 0:
            raise CheckpointError(f"{where}: label {label} has an empty list of cluster centres")
        if not np.isfinite(centres).all():
            raise CheckpointError(f"{where}: clusters of label {label} contain NaN or infinity")
        clusters[int(label)] = centres
    return clusters


def load_clusters(path: str | os.PathLike[str], *, feat_num: int | None = None) -> Clusters:
    """Read a public `features_clustered_NNN.npy` without running any code from it.

    Returns {label: K x feat_num array}; checks the column count when feat_num is given.
    """
    path = Path(path)
    with open(path, "rb") as f:
        data = _read_npy_object(f, str(path))
    return validate_clusters(data, str(path), feat_num)


def save_clusters(path: str | os.PathLike[str], clusters: Mapping[int, np.ndarray]) -> Path:
    """Write clusters as the public code does (np.save of a dict), atomically."""
    path = Path(path)
    data = {int(k): np.asarray(v) for k, v in clusters.items()}
    with atomic_write(path, clean_stale=True) as f:
        np.save(f, np.array(data, dtype=object), allow_pickle=True)
    return path
