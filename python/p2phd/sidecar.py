# SPDX-License-Identifier: Apache-2.0
"""The JSON sidecar `<artifact>.json`: the one reader and writer, used by export and Runtime.

A sidecar says everything a client needs to drive an artifact without p2phd's source: the
generator's configuration, the IO tensors, their meaning in words and numbers
(`semantics`), and for feature models the cluster table that picks instance features.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from p2phd.artifact_io import io_tensors
from p2phd.atomic import file_sha256
from p2phd.extras import require
from p2phd.models.config import GeneratorConfig

__all__ = [
    "ARTIFACT_DIGEST",
    "BIN_DIGEST",
    "SidecarError",
    "check_artifact_io",
    "check_embedded",
    "check_io_fits_config",
    "clusters_from_sidecar",
    "clusters_to_json",
    "read_sidecar",
    "semantics",
    "sidecar_path",
]

REQUIRED_KEYS = ("format", "config", "inputs", "outputs")
EMBEDDED_NAME = "p2phd.json"  # the extra file of a TorchScript artifact
# sha256 of the artifact's bytes, in the sidecar file: an artifact and a sidecar of two
# exports (a kill between the renames, a copy of one file only) are refused as a mixed set.
ARTIFACT_DIGEST = "artifact_sha256"
# sha256 of an OpenVINO IR's weights (the .bin beside the .xml): the third file of its set.
BIN_DIGEST = "bin_sha256"


class SidecarError(ValueError):
    """A sidecar that is missing, not JSON, or not the description p2phd-export writes."""


def sidecar_path(artifact: str | os.PathLike[str]) -> Path:
    """`model.onnx` -> `model.onnx.json`."""
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".json")


def read_sidecar(
    artifact: str | os.PathLike[str], *, required: bool = True
) -> dict[str, Any] | None:
    """The checked sidecar of `artifact` (the artifact's path, not the sidecar's).

    Read from `<artifact>.json`, else from inside the artifact (an ONNX's `p2phd` metadata,
    a TorchScript's `p2phd.json` extra file). Where there is none, SidecarError, or None
    with required=False; one that is not JSON or lacks what p2phd-export writes raises
    SidecarError naming the file. A sidecar file holds its artifact's digest, and an OpenVINO
    IR's (.xml) that of its weights (.bin) too: an artifact or .bin of another export is
    refused. An IR sidecar written before p2phd recorded the .bin (no "bin_sha256") is
    read on the .xml's digest alone, so that those exports keep loading; export again to
    have the .bin checked."""
    path = sidecar_path(artifact)
    if path.is_file():
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise SidecarError(f"{path}: not a readable JSON sidecar ({error})") from error
    else:
        text = _embedded(Path(artifact))
        if text is None:
            if not required:
                return None
            raise SidecarError(
                f"{path}: no such sidecar (p2phd-export writes one beside the artifact)"
            )
        path = Path(artifact)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SidecarError(f"{path}: not a readable JSON sidecar ({error})") from error
    _check(data, path)
    digest = data.get(ARTIFACT_DIGEST) if path != Path(artifact) else None
    if digest is not None and digest != file_sha256(artifact):
        raise SidecarError(
            f"{path} and {Path(artifact).name} are a mixed set: the sidecar describes another "
            "export (an export killed between its renames, or one file copied without the "
            "other); export again"
        )
    if path != Path(artifact) and data.get(BIN_DIGEST) is not None:
        _check_weights(Path(artifact).with_suffix(".bin"), data[BIN_DIGEST], path)
    return data


def _check_weights(weights: Path, digest: str, sidecar: Path) -> None:
    """SidecarError unless `weights` (an IR's .bin) is the file whose digest its sidecar holds."""
    if not weights.is_file():
        raise SidecarError(
            f"{weights}: no such file, and {sidecar.name} describes the IR with its weights "
            "there; export again (p2phd-export --to openvino)"
        )
    if file_sha256(weights) != digest:
        raise SidecarError(
            f"{weights}: not the weights {sidecar.name} describes (the .bin of another export, "
            "or rewritten since); export again (p2phd-export --to openvino)"
        )


def _embedded(artifact: Path) -> str | None:
    """The sidecar JSON inside an ONNX or TorchScript artifact, or None."""
    if not artifact.is_file():
        return None
    if zipfile.is_zipfile(artifact):  # TorchScript: <archive>/extra/p2phd.json
        with zipfile.ZipFile(artifact) as archive:
            for name in archive.namelist():
                if name.endswith("/extra/" + EMBEDDED_NAME):
                    return archive.read(name).decode()
        return None
    if artifact.suffix == ".onnx":
        try:
            model = require("onnx").load(str(artifact), load_external_data=False)
        except Exception:  # onnx raises its own types (DecodeError ...) for a bad file
            return None
        for entry in model.metadata_props:
            if entry.key == "p2phd":
                return entry.value
    return None


def _check(data: Any, path: Path) -> None:
    if not isinstance(data, dict):
        raise SidecarError(f"{path}: a sidecar is a JSON object, got {type(data).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise SidecarError(
            f"{path}: not a p2phd-export sidecar (missing {', '.join(repr(k) for k in missing)})"
        )
    try:
        config = GeneratorConfig.from_dict(data["config"])
    except (TypeError, ValueError) as error:
        raise SidecarError(f"{path}: bad 'config' ({error})") from error
    if not isinstance(data["inputs"], list) or not data["inputs"]:
        raise SidecarError(f"{path}: 'inputs' must be a non-empty list of tensors")
    if not isinstance(data["outputs"], list):
        raise SidecarError(f"{path}: 'outputs' must be a list of tensors")
    for entry in (*data["inputs"], *data["outputs"]):
        if not (isinstance(entry, dict) and {"name", "dtype", "shape"} <= set(entry)):
            raise SidecarError(f"{path}: every input and output needs name, dtype and shape")
    try:
        clusters_from_sidecar(data, config.feat_num)
    except (TypeError, ValueError) as error:
        raise SidecarError(f"{path}: bad 'clusters' ({error})") from error
    check_io_fits_config(data, path)


def _shape_text(shape: list[Any]) -> str:
    return "x".join(str(d) for d in shape)


def check_io_fits_config(data: Mapping[str, Any], where: str | os.PathLike[str]) -> None:
    """SidecarError unless the tensors of `data` ("inputs", "outputs") are those its "config",
    "precision" and "with_preprocess" mean: names, dtypes, channels, one batch and size."""
    config = GeneratorConfig.from_dict(data["config"])
    precision = data.get("precision", "fp32")
    with_preprocess = bool(data.get("with_preprocess"))
    inputs, outputs = io_tensors(config, precision, with_preprocess)
    listed = [*data["inputs"], *data["outputs"]]
    expected = [*inputs, *outputs]

    def refuse(what: str) -> SidecarError:
        return SidecarError(
            f"{where}: the tensors do not match the config ({config.label_nc} labels, "
            f"instances {'on' if config.use_instance else 'off'}, {config.feature_nc} "
            f"features, {precision}{', with preprocessing' if with_preprocess else ''}): {what}"
        )

    names = [entry.get("name") for entry in listed]
    if names != [spec.name for spec in expected]:
        raise refuse(f"tensors {names}, expected {[spec.name for spec in expected]}")
    sizes = set()
    for entry, spec in zip(listed, expected, strict=True):
        shape = entry["shape"]
        wanted = spec.shape("N", "H", "W")
        if entry["dtype"] != spec.dtype or not isinstance(shape, list) or len(shape) != len(wanted):
            raise refuse(f"{spec.name} is {entry['dtype']} {shape}, expected {spec.dtype} {wanted}")
        channel = {"nchw": 1, "nhwc": 3}.get(spec.layout)
        if channel is not None and shape[channel] != spec.channels:
            raise refuse(f"{spec.name} has {shape[channel]} channels, expected {spec.channels}")
        sizes.add(tuple(shape[i] for i, d in enumerate(wanted) if d in ("N", "H", "W")))
    if len(sizes) > 1:
        raise refuse(f"the tensors differ in batch or size: {sorted(map(str, sizes))}")


def check_artifact_io(
    data: Mapping[str, Any],
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    where: str | os.PathLike[str],
) -> None:
    """SidecarError unless the tensors the artifact itself declares (name, dtype, shape; a
    dynamic dimension as a str) are those of the sidecar `data`."""
    for side, graph in ((data["inputs"], inputs), (data["outputs"], outputs)):
        if [e["name"] for e in side] != [e["name"] for e in graph]:
            raise SidecarError(
                f"{where} does not match its artifact: the artifact's tensors are "
                f"{[e['name'] for e in graph]}, the sidecar lists {[e['name'] for e in side]}"
            )
        for described, actual in zip(side, graph, strict=True):
            dims_match = len(described["shape"]) == len(actual["shape"]) and all(
                d == a if isinstance(d, int) else not isinstance(a, int)
                for d, a in zip(described["shape"], actual["shape"], strict=False)
            )
            if described["dtype"] != actual["dtype"] or not dims_match:
                raise SidecarError(
                    f"{where} does not match its artifact: {actual['name']} is "
                    f"{actual['dtype']} {_shape_text(actual['shape'])} in the artifact, the "
                    f"sidecar says {described['dtype']} {_shape_text(described['shape'])}"
                )


# ONNX element types as the sidecar names them.
_ONNX_DTYPES = {1: "float32", 10: "float16", 6: "int32", 7: "int64", 2: "uint8"}


def onnx_io(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str | None]:
    """The inputs and outputs an ONNX graph declares, as sidecar entries (a dynamic dimension
    as its name), and the description p2phd-export put inside it; read with the onnx package,
    whichever backend will run the graph."""
    try:
        model = require("onnx").load(str(path), load_external_data=False)
    except Exception as error:  # onnx raises its own types (DecodeError ...) for a bad file
        raise ValueError(f"{path}: not an ONNX model ({error})") from error
    weights = {initializer.name for initializer in model.graph.initializer}

    def described(values: Any) -> list[dict[str, Any]]:
        entries = []
        for value in values:
            if value.name in weights:
                continue
            tensor = value.type.tensor_type
            shape = [
                d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                for d in tensor.shape.dim
            ]
            dtype = _ONNX_DTYPES.get(tensor.elem_type, str(tensor.elem_type))
            entries.append({"name": value.name, "dtype": dtype, "shape": shape})
        return entries

    embedded = next((e.value for e in model.metadata_props if e.key == "p2phd"), None)
    return described(model.graph.input), described(model.graph.output), embedded


def check_onnx(path: Path, data: Mapping[str, Any]) -> None:
    """SidecarError unless the ONNX at `path` declares the tensors of its sidecar `data` and
    carries no description that disagrees with it."""
    inputs, outputs, embedded = onnx_io(path)
    where = sidecar_path(path)
    check_artifact_io(data, inputs, outputs, where)
    check_embedded(data, embedded, where)


def check_embedded(
    data: Mapping[str, Any], embedded: str | None, where: str | os.PathLike[str]
) -> None:
    """SidecarError unless the description inside the artifact (`embedded`, the JSON that
    p2phd-export put there; None: nothing to compare) agrees with the sidecar `data`."""
    if not embedded:
        return
    try:
        inside = json.loads(embedded)
    except json.JSONDecodeError:
        return  # not ours to judge: the sidecar file is what describes the artifact
    if not isinstance(inside, dict):
        return
    for key in ("config", "with_preprocess", "precision", "inputs", "outputs", "clusters"):
        if key in inside and inside[key] != data.get(key):
            raise SidecarError(
                f"{where} does not match its artifact: its {key!r} differs from the one "
                "written inside the artifact when it was exported"
            )


def clusters_to_json(clusters: Mapping[int, np.ndarray] | None) -> dict[str, list] | None:
    """{class: K x feat_num centres} -> {"class": [[...], ...]}; float32 values survive the
    round trip exactly (a float32 printed as a float64 reads back to the same float32)."""
    if not clusters:
        return None
    return {
        str(int(label)): np.asarray(centres, np.float32).astype(np.float64).tolist()
        for label, centres in sorted(clusters.items())
    }


def clusters_from_sidecar(
    sidecar: Mapping[str, Any], feat_num: int | None = None
) -> dict[int, np.ndarray] | None:
    """The sidecar's cluster table as {class: K x feat_num float32}, or None when it has none."""
    table = sidecar.get("clusters")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ValueError(f"a JSON object of class -> centres, got {type(table).__name__}")
    clusters = {}
    for label, centres in table.items():
        array = np.asarray(centres, dtype=np.float32)
        if not label.isdigit() or array.ndim != 2 or array.shape[0] == 0:
            raise ValueError(f"class {label!r} needs a non-empty K x feat_num list")
        if feat_num is not None and array.shape[1] != feat_num:
            raise ValueError(f"class {label} has {array.shape[1]} features, not {feat_num}")
        if not np.isfinite(array).all():
            raise ValueError(f"class {label} has NaN or infinite centres")
        clusters[int(label)] = array
    return clusters


def semantics(config: GeneratorConfig, with_preprocess: bool) -> dict[str, Any]:
    """What the inputs and outputs mean, for a client that has only this file."""
    channels = [
        f"0..{config.label_nc - 1}: one-hot of the label map (channel c is 1 where label == c)"
    ]
    if config.use_instance:
        channels.append(f"{config.label_nc}: instance edge map")
    if config.feature_nc:
        start = config.label_nc + int(config.use_instance)
        channels.append(f"{start}..{start + config.feature_nc - 1}: instance features")
    stride = config.downsampling
    described: dict[str, Any] = {
        "channel_order": channels,
        "label_range": [0, config.label_nc],
        "labels": (
            f"class ids in [0, {config.label_nc}); in-graph, a label outside that range gives an "
            "all-zero one-hot pixel (no error), so check the range before running"
            if with_preprocess
            else f"class ids in [0, {config.label_nc}), one-hot encoded into channels "
            f"0..{config.label_nc - 1}; a label outside is an error"
        ),
        "edge_rule": (
            "1 where the pixel's instance id differs from any of its 4 neighbours inside the "
            "image, else 0; both sides of a boundary are marked, the image border is not"
            if config.use_instance
            else None
        ),
        "instance_class_rule": "class of instance id i: i if i < 1000 else i // 1000",
        "stride": stride,
        "padding_rule": (
            f"pad H and W at the bottom and right to multiples of {stride} (at least "
            f"{max(2 * stride, 4)}) by reflection without repeating the edge pixel (numpy.pad "
            "mode='reflect', folded again while the pad exceeds the size; a length-1 axis "
            "repeats its pixel), pad labels, instances and features alike, run, and crop "
            "the output back to H x W; a fixed-shape export takes only the maps that pad "
            "to its size (padding further changes the image: instance norm sees the pad)"
        ),
        "output": (
            "image: uint8 N x H x W x 3 RGB, round(clamp((y + 1) / 2, 0, 1) * 255) of the "
            "generator's tanh output y (NaN gives 0)"
            if with_preprocess
            else "output: N x 3 x H x W RGB in [-1, 1] (tanh); to uint8: "
            "round(clamp((y + 1) / 2, 0, 1) * 255)"
        ),
    }
    if config.feature_nc:
        described["features"] = (
            f"float32 N x {config.feature_nc} x H x W: every pixel of an instance holds that "
            "instance's feature vector; with the cluster table ('clusters': class -> K rows of "
            f"{config.feature_nc}), choose for each instance id a row k of its class's centres "
            "(the per-instance style choice); instances whose class has no centres get zeros"
        )
    return described
