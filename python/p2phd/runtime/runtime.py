# SPDX-License-Identifier: Apache-2.0
"""`Runtime`: one object that renders label maps with a pix2pixHD generator on any backend."""

from __future__ import annotations

import contextlib
import hashlib
import threading
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from p2phd import checkpoint, ops
from p2phd.models import GeneratorConfig
from p2phd.runtime import artifacts, openvino_backend
from p2phd.runtime.devices import DeviceStream, resolve_device
from p2phd.runtime.features import check_features, check_seeds, cluster_features
from p2phd.runtime.fused_backend import FusedBackend
from p2phd.runtime.inputs import ArrayLike, as_tensor, batched_maps, photo_tensor
from p2phd.runtime.map_feeds import Maps
from p2phd.runtime.memory import RenderMemoryError, available_bytes, render_bytes
from p2phd.runtime.onnx_backend import OnnxBackend
from p2phd.runtime.openvino_backend import OpenVinoBackend, OpenVinoUnavailable
from p2phd.runtime.options import check_option_names
from p2phd.runtime.padding import network_size, pad_for_network
from p2phd.runtime.profile import RenderProfile
from p2phd.runtime.tensorrt_backend import TensorRTBackend
from p2phd.runtime.torch_backend import TorchBackend
from p2phd.runtime.torchscript_backend import TorchScriptBackend
from p2phd.sidecar import (
    check_onnx,
    clusters_from_sidecar,
    onnx_io,
    read_sidecar,
    sidecar_path,
)

Backend = (
    TorchBackend
    | FusedBackend
    | OnnxBackend
    | OpenVinoBackend
    | TensorRTBackend
    | TorchScriptBackend
)
BACKENDS = ("auto", "torch", "fused", "openvino", "onnxruntime", "tensorrt", "torchscript")

# Largest height or width render() accepts: 8192 covers 4x Cityscapes' 2048 and keeps one
# FP32 generator input of a 35-class model under 10 GB.
MAX_SIDE = 8192

ROUNDINGS = ("nearest", "public")
_KEYWORDS = (
    "backend",
    "device",
    "precision",
    "channels_last",
    "compile_mode",
    "rounding",
    "memory_limit",
)


class Runtime:
    """Renders [N x] H x W label maps (and instance maps) into [N x] H x W x 3 uint8 images.

    `source` is a public pix2pixHD checkpoint (a directory with latest_net_G.pth, or any
    *_net_G.pth), a p2phd bundle, an ONNX file, an OpenVINO IR file (.xml beside its .bin), a
    TorchScript file (.pt) or a TensorRT engine (with the JSON sidecar p2phd-export writes
    next to it; feature models take their cluster table from it), or a model name: "demo",
    the small model shipped with p2phd. `backend` is "auto", "openvino" (the CPU's, converts
    checkpoints in memory), "torch", "fused" (PyTorch's convolutions with p2phd's fused first
    layer, norms and last layer, for CUDA; uint8 output only), "onnxruntime", "torchscript"
    or "tensorrt". "auto" is openvino on a CPU (torch for a checkpoint, onnxruntime for an
    ONNX file, with a warning saying why, where OpenVINO cannot run it) and torch on CUDA.
    `device` is "auto" (every backend alike: CUDA when there is a GPU that the backend can
    use, for onnxruntime its CUDA provider; else the CPU), "cpu" or "cuda[:N]"; `precision`
    "auto" (fp16 on CUDA, fp32 on a CPU), "fp32", "fp16" or "bf16" (torch, fused and
    openvino, which needs the CPU's bf16 units; on the other backends an exported artifact
    runs in its own precision, and asking for another is an error). `threads` is OpenVINO's
    INFERENCE_NUM_THREADS (default: all cores) and `openvino_config` any other OpenVINO CPU
    property by its name ({"NUM_STREAMS": 2}, {"CACHE_DIR": path}); both apply to the openvino
    backend, and with backend="auto" only where it picks openvino, which keeps the checkpoints
    it converts in ~/.cache/p2phd/openvino (or $P2PHD_CACHE_DIR/openvino; see the README).
    `channels_last` runs the fused backend's convolutions on NHWC tensors (default: on
    CUDA, not on the CPU), and `compile_mode` ("default" or "max-autotune-no-cudagraphs")
    has torch.compile compile its forward (minutes at the first render of a shape). `config`
    holds the public checkpoint options (label_nc, use_instance, feat_num, instance_feat,
    which_epoch, clusters), or the GeneratorConfig fields of an ONNX file or engine without a
    sidecar. `rounding` is how the image becomes uint8: "nearest" (default) or "public", the
    public pix2pixHD code's truncation `uint8(clip((y + 1) / 2 * 255, 0, 255))`, for bit-exact
    comparison with its results (backends that return float only: not "fused", nor an export
    with preprocessing). `memory_limit` caps, in bytes, what one render may allocate (default:
    what the device has available); a larger render is refused with RenderMemoryError.

    One Runtime can be shared between threads: render() calls run one at a time. It holds
    its model in memory: replacing or rewriting the files it was loaded from changes nothing.
    """

    def __init__(
        self,
        source: str | Path,
        *,
        backend: str = "auto",
        device: str | torch.device = "auto",
        precision: str = "auto",
        channels_last: bool | None = None,
        compile_mode: str | None = None,
        rounding: str = "nearest",
        memory_limit: int | None = None,
        threads: int | None = None,
        openvino_config: Mapping[str, Any] | None = None,
        **config: Any,
    ) -> None:
        check_option_names(config, _KEYWORDS)
        path = checkpoint.resolve_model(source)
        if rounding not in ROUNDINGS:
            raise ValueError(f"rounding must be 'nearest' or 'public', got {rounding!r}")
        if rounding == "public" and backend == "fused":
            raise ValueError(
                "rounding='public' needs a backend that returns the float image; the fused "
                "backend converts to uint8 inside its last layer with rounding to nearest "
                "(use backend='torch')"
            )
        if memory_limit is not None and (
            isinstance(memory_limit, bool) or not isinstance(memory_limit, int) or memory_limit < 1
        ):
            raise ValueError(f"memory_limit must be a positive int (bytes), got {memory_limit!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if (threads is not None or openvino_config) and backend not in ("auto", "openvino"):
            raise ValueError("threads and openvino_config apply to the openvino backend only")
        self._openvino_options = (threads, openvino_config)
        if (channels_last is not None or compile_mode is not None) and backend != "fused":
            raise ValueError(
                "channels_last and compile_mode apply to the fused backend (backend='fused') only"
            )
        self.source = path
        self.rounding = rounding
        self.memory_limit = memory_limit
        self.encoder: torch.nn.Module | None = None
        self._encoder_stride = 1
        self.clusters: dict[int, np.ndarray] | None = None
        self._lock = threading.Lock()
        self._input_buffers: dict[tuple[int, ...], torch.Tensor] = {}
        # (N, H, W) an artifact exported at a fixed size takes; None where any size goes.
        self._fixed_shape: tuple[int, int, int] | None = None
        # Set at load for checkpoints; an artifact's file digest is computed on first use.
        self._model_digest: str | None = None
        if path.suffix in artifacts.SUFFIXES:
            self._backend = self._load_artifact(path, backend, device, precision, config)
        else:
            self._backend = self._load_checkpoint(
                path, backend, device, precision, (channels_last, compile_mode), config
            )
        # Renders run on the Runtime's own stream: its buffers are never shared across streams.
        self._stream = DeviceStream(self.device)
        if rounding == "public" and not self._backend.generates:
            raise ValueError(
                f"rounding='public' needs a backend that returns the float image; the "
                f"{self._backend.name} backend of {path.name} converts to uint8 inside the "
                "network with rounding to nearest (use backend='torch', or an export without "
                "preprocessing)"
            )

    def _load_checkpoint(
        self,
        path: Path,
        backend: str,
        device: str | torch.device,
        precision: str,
        fused_options: tuple[bool | None, str | None],
        config: dict,
    ) -> Backend:
        if backend not in ("auto", "torch", "fused", "openvino"):
            raise ValueError(
                f"backend {backend!r} runs an exported model: export {path} with p2phd-export "
                "and pass the .onnx or engine file"
            )
        model = checkpoint.load(path, **config)
        self._model_digest = checkpoint.model_digest(model)
        self.config = model.config
        self.clusters = model.clusters
        resolved = resolve_device(device)
        if backend == "openvino" and resolved.type != "cpu":
            raise ValueError(f"the openvino backend renders on the CPU, not on {resolved}")
        if precision == "auto":
            precision = "fp16" if resolved.type == "cuda" else "fp32"
        if model.encoder is not None:
            self.encoder = model.encoder.eval().requires_grad_(False).to(resolved)
            if model.encoder_config is not None:
                self._encoder_stride = 2**model.encoder_config.n_downsample
        if backend == "fused":
            return FusedBackend(model.generator, model.config, resolved, precision, *fused_options)
        if backend == "openvino" or (backend == "auto" and resolved.type == "cpu"):
            try:
                return openvino_backend.from_generator(
                    path.name, model.generator, model.config, precision, *self._openvino_options
                )
            except OpenVinoUnavailable as error:
                if backend == "openvino":
                    raise
                warnings.warn(
                    f"{path.name} renders on the torch backend: {error}", RuntimeWarning, 3
                )
        return TorchBackend(model.generator, resolved, precision)

    def _load_artifact(
        self,
        path: Path,
        backend: str,
        device: str | torch.device,
        precision: str,
        config: dict,
    ) -> Backend:
        kind = artifacts.artifact_backend(path, backend, device)
        sidecar = read_sidecar(path, required=kind == "torchscript")
        clusters = config.pop("clusters", None)
        if sidecar is not None:
            self.config = GeneratorConfig.from_dict(sidecar["config"])
            self.clusters = clusters_from_sidecar(sidecar, self.config.feat_num)
            shape = sidecar["inputs"][0]["shape"]
            if all(isinstance(size, int) for size in shape):
                self._fixed_shape = (shape[0], shape[-2], shape[-1])
        elif config:
            self.config = GeneratorConfig(**config)
        else:
            raise ValueError(
                f"{path}: no sidecar {path.name}.json (p2phd-export writes one); pass the "
                "model's GeneratorConfig fields (label_nc=..., use_instance=..., ...) instead"
            )
        if clusters is not None:
            self.clusters = checkpoint.load_clusters(clusters, feat_num=self.config.feat_num)
        if path.suffix == ".onnx":  # the graph against its sidecar, whichever backend runs it
            if sidecar is not None:
                check_onnx(path, sidecar)
            else:
                inputs = onnx_io(path)[0]
                self._check_graph_inputs(path, inputs, "labels" in [i["name"] for i in inputs])
        if kind == "openvino":
            try:
                return openvino_backend.from_file(
                    path,
                    "fp32" if precision == "auto" else precision,
                    *self._openvino_options,
                    sidecar=sidecar,
                )
            except OpenVinoUnavailable as error:
                if backend == "openvino" or path.suffix != ".onnx":
                    raise
                warnings.warn(f"{path.name} runs on onnxruntime: {error}", RuntimeWarning, 3)
                kind = "onnxruntime"
        loaded = artifacts.exported_backend(path, kind, device, sidecar)
        if precision not in ("auto", loaded.precision):
            raise ValueError(
                f"{path.name} is a {loaded.precision} export, which the {kind} backend runs "
                f"as it is: precision={precision!r} needs backend='openvino' (on the CPU) or "
                "an export in that precision"
            )
        return loaded

    def _check_graph_inputs(self, path: Path, inputs: list[dict[str, Any]], maps: bool) -> None:
        """ValueError when a graph without a sidecar takes other inputs than the config given
        for it means: the channels of one-hot labels + instance edges + features, or for a
        graph with its preprocessing, the instance and feature maps."""
        c = self.config
        given = f"label_nc={c.label_nc}, use_instance={c.use_instance}, feature_nc={c.feature_nc}"
        if maps:
            names = [entry["name"] for entry in inputs]
            wanted = ["labels"] + ["instances"] * c.use_instance + ["features"] * bool(c.feature_nc)
            if names != wanted:
                raise ValueError(
                    f"{path.name} takes the inputs {names}, but {given} mean {wanted}: pass "
                    "the options the model was trained with"
                )
            return
        shape = inputs[0]["shape"]
        channels = shape[1] if len(shape) == 4 else None
        if isinstance(channels, int) and channels != c.input_nc:
            raise ValueError(
                f"{path.name} takes {channels} input channels, but {given} make "
                f"{c.input_nc}: pass the options the model was trained with"
            )

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def device(self) -> torch.device:
        return self._backend.device

    @property
    def precision(self) -> str:
        return self._backend.precision

    @property
    def channels_last(self) -> bool | None:
        """Whether the fused backend runs its convolutions NHWC; None on other backends."""
        return self._backend.channels_last if isinstance(self._backend, FusedBackend) else None

    @property
    def model_digest(self) -> str:
        """The digest, "sha256:<hex>", of the model this Runtime renders with: for a
        checkpoint or bundle its configuration and tensors (checkpoint.model_digest), for an
        ONNX file, TorchScript file or engine the bytes of the file and of its sidecar."""
        if self._model_digest is None:
            digest = hashlib.sha256()
            for path in (self.source, sidecar_path(self.source)):
                if path.is_file():
                    with path.open("rb") as file:
                        digest.update(hashlib.file_digest(file, "sha256").digest())
            self._model_digest = f"sha256:{digest.hexdigest()}"
        return self._model_digest

    def provenance(self) -> dict[str, str]:
        """What reproduces this Runtime's images, besides each map and its seed: the model
        (path and digest), backend, device, precision, rounding and p2phd version. JSON-ready;
        a dataset render records it with every output."""
        from p2phd import __version__

        return {
            "model": str(self.source),
            "model_digest": self.model_digest,
            "backend": self.backend,
            "device": str(self.device),
            "precision": self.precision,
            "rounding": self.rounding,
            "p2phd": __version__,
        }

    def describe(self) -> str:
        c = self.config
        features = f", {c.feat_num} instance features" if c.instance_feat else ""
        layout = {None: "", True: ", NHWC", False: ", NCHW"}[self.channels_last]
        sizes = f"sizes padded to multiples of {c.downsampling}"
        if self._fixed_shape is not None:
            sizes += ", to {} x {} x {} maps only (a fixed-size export)".format(*self._fixed_shape)
        return (
            f"{self.source.name}: {c.netG} generator (ngf {c.ngf}, {c.label_nc} labels"
            f"{', instance edges' if c.use_instance else ''}{features}) on {self.backend}, "
            f"{self.device}, {self.precision}{layout}; {sizes}"
        )

    def render(
        self,
        labels: ArrayLike,
        instances: ArrayLike | None = None,
        *,
        style: dict[int, int] | None = None,
        features: ArrayLike | None = None,
        features_from: ArrayLike | None = None,
        seed: int | Sequence[int] | None = None,
        output: Literal["uint8", "float"] = "uint8",
        profile: RenderProfile | None = None,
    ) -> ArrayLike:
        """[N x] H x W labels (+ instance ids) -> [N x] H x W x 3 uint8 (channels last, as
        images are stored), or with output="float" [N x] 3 x H x W float32 in [-1, 1]
        (channels first, as the network computes it). numpy in, numpy out; torch in, torch out
        on the input's device. Any H, W in [1, MAX_SIDE]: maps are padded by reflection to
        the network's stride (and to at least twice it) and the result is cropped back. An
        artifact exported at a fixed size takes the maps that pad to that size only.

        Feature models: `features` gives the N x feat_num x H x W map; `features_from` encodes
        a photo (uint8 H x W x 3) with the encoder; otherwise every instance takes a cluster
        centre of its class, `style[instance_id]` where given, else drawn with its map's seed.
        `seed` is one int that every map of the call uses on its own, or a sequence with one
        seed per map (default 0); a map's draw never depends on the other maps of the call.
        On a CPU a map's bytes never depend on its batch either: the maps run through the
        generator one at a time, but on the torch backend in FP32 or BF16, whose oneDNN
        convolutions give a map the same sums in any batch (the README's Reproducibility).
        `profile` collects the time of each stage (see RenderProfile)."""
        if output not in ("uint8", "float"):
            raise ValueError(f"output must be 'uint8' or 'float', got {output!r}")
        with self._lock, profile.render() if profile else contextlib.nullcontext():
            stage = (
                (lambda name: profile.stage(name, self.device))
                if profile is not None
                else (lambda name: contextlib.nullcontext())
            )
            return self._stream.run(
                self._render,
                labels,
                instances,
                style,
                features,
                features_from,
                seed,
                output,
                stage,
            )

    def required_memory(self, n: int, height: int, width: int) -> int:
        """Bytes that a render of N x H x W maps is estimated to allocate (weights aside)."""
        stride = self.config.downsampling
        if self._fixed_shape is not None:
            n, height, width = self._fixed_shape
        else:
            height, width = network_size(height, stride), network_size(width, stride)
        element = torch.tensor([], dtype=self._backend.input_dtype).element_size()
        return render_bytes(self.config, n, height, width, element)

    def _check_memory(self, n: int, height: int, width: int) -> None:
        needed = self.required_memory(n, height, width)
        limit, where = self.memory_limit, "the memory_limit"
        if limit is None:
            limit, where = available_bytes(self.device), f"what {self.device} has available"
        if limit is not None and needed > limit:
            raise RenderMemoryError(
                f"rendering {n} x {height} x {width} maps with {self.source.name} needs about "
                f"{needed / 2**30:.1f} GiB, more than {where} ({limit / 2**30:.1f} GiB); "
                "render smaller maps or fewer at once"
            )

    def _render(
        self,
        labels: ArrayLike,
        instances: ArrayLike | None,
        style: dict[int, int] | None,
        features: ArrayLike | None,
        features_from: ArrayLike | None,
        seed: int | Sequence[int] | None,
        output: str,
        stage: Any,
    ) -> ArrayLike:
        config = self.config
        returns_numpy = isinstance(labels, np.ndarray)
        with stage("preprocess"):
            label_maps, single = batched_maps(as_tensor(labels, "labels"), "labels")
            home = label_maps.device
            n, height, width = label_maps.shape
            if max(height, width) > MAX_SIDE or min(height, width) < 1:
                raise ValueError(
                    f"maps of {height} x {width}: height and width must lie in [1, {MAX_SIDE}]"
                )
            seeds = check_seeds(seed, n)
            self._check_memory(n, height, width)
            # 16-bit label PNGs read as uint16, which torch cannot pad or take the min of.
            wide = label_maps.dtype == torch.uint16
            label_maps = label_maps.to(self.device, torch.int32 if wide else None)
            instance_maps = None
            if config.use_instance:
                if instances is None:
                    raise ValueError("this model needs an instance map (it takes instance edges)")
                instance_maps, _ = batched_maps(as_tensor(instances, "instances"), "instances")
                if instance_maps.shape != label_maps.shape:
                    raise ValueError(
                        f"labels are {tuple(label_maps.shape)} but instances are "
                        f"{tuple(instance_maps.shape)}"
                    )
                # int32 at least: uint16 tensors cannot be indexed for padding.
                instance_maps = instance_maps.to(self.device, torch.int64)
            elif instances is not None:
                raise ValueError("this model takes no instance map (it was trained without one)")
            feature_map = self._feature_map(instance_maps, style, features, features_from, seeds)
            label_maps, instance_maps, feature_map = self._pad(
                label_maps, instance_maps, feature_map
            )
            # Maps go into the graph where the backend converts to uint8 itself as asked;
            # otherwise the Runtime builds the generator input and converts the float image.
            in_graph = self._backend.takes_maps and not (
                self._backend.generates and (output == "float" or self.rounding == "public")
            )
            if in_graph:
                if output == "float":
                    raise ValueError(f"{self.source.name} returns uint8 images only")
                # The graph's one-hot cannot raise: an invalid label would render as zeros.
                low, high = int(label_maps.min()), int(label_maps.max())
                if low < 0 or high >= config.label_nc:
                    bad = low if low < 0 else high
                    raise ops.LabelRangeError(
                        f"labels must lie in [0, {config.label_nc}): got {bad}", bad
                    )
            else:
                try:
                    generator_input = self._generator_input(label_maps, instance_maps, feature_map)
                except ops.LabelRangeError as error:
                    raise ops.LabelRangeError(
                        f"labels must lie in [0, {config.label_nc}): {error}", error.label
                    ) from None
        if in_graph:
            maps = (label_maps, instance_maps, feature_map)
            with stage("generator"):
                parts = [
                    self._backend.render_maps(Maps(*_part(maps, p))) for p in self._map_parts(n)
                ]
                result = parts[0] if len(parts) == 1 else torch.cat(parts)
            with stage("postprocess"):
                result = result[:, :height, :width]
                return self._deliver(result, single, returns_numpy, home)
        result = self._generate(generator_input, height, width, output, stage)
        return self._deliver(result, single, returns_numpy, home)

    def _generate(
        self, generator_input: torch.Tensor, height: int, width: int, output: str, stage: Any
    ) -> torch.Tensor:
        """The generator on each part of the batch (_map_parts), every image written into
        its slice of one N x 3 x H x W float32 or N x H x W x 3 uint8 result."""
        n = generator_input.shape[0]
        if output == "float":
            result = torch.empty(n, 3, height, width, device=self.device)
        else:
            result = torch.empty(n, height, width, 3, dtype=torch.uint8, device=self.device)
        for part in self._map_parts(n):
            with stage("generator"):
                generated = self._backend.generate(generator_input[part])
            with stage("postprocess"):
                generated = generated[:, :, :height, :width]
                # A copy either way: the backend may reuse the memory of `generated`.
                if output == "float":
                    result[part].copy_(generated)
                else:
                    ops.to_uint8_image(generated, rounding=self.rounding, out=result[part])
        return result

    def _map_parts(self, n: int) -> list[slice]:
        """The slices of the batch that go through the generator together: on a CPU one map
        at a time (PyTorch's, onnxruntime's and OpenVINO's CPU kernels may pick their
        algorithm and the order of their sums by batch size), except on a backend whose
        floats for a map are the same in any batch (`batch_exact`: the torch backend, all in
        oneDNN); elsewhere, and for an artifact of fixed batch size, the whole batch."""
        # getattr: a backend that does not say is taken not to be batch-exact.
        batch_exact = getattr(self._backend, "batch_exact", False)
        if self.device.type == "cpu" and self._fixed_shape is None and not batch_exact:
            return [slice(i, i + 1) for i in range(n)]
        return [slice(0, n)]

    @staticmethod
    def _deliver(
        result: torch.Tensor, single: bool, returns_numpy: bool, home: torch.device
    ) -> ArrayLike:
        if single:
            result = result[0]
        return result.cpu().numpy() if returns_numpy else result.to(home)

    def _pad(self, *maps: torch.Tensor | None) -> list[torch.Tensor | None]:
        """Pads maps by reflection to sizes the network takes (network_size). An artifact
        exported at a fixed size takes only the maps that pad to that size: padding further
        would change the image (instance norm would see the padding)."""
        n, height, width = maps[0].shape
        stride = self.config.downsampling
        if self._fixed_shape is not None:
            padded = (n, network_size(height, stride), network_size(width, stride))
            if padded != self._fixed_shape:
                raise ValueError(self._fixed_shape_refusal(n, height, width, padded))
        return [m if m is None else pad_for_network(m, stride) for m in maps]

    def _fixed_shape_refusal(
        self, n: int, height: int, width: int, padded: tuple[int, int, int]
    ) -> str:
        assert self._fixed_shape is not None
        fixed_n, fixed_height, fixed_width = self._fixed_shape
        fits = (
            [f"--size {padded[1]}x{padded[2]}"] if padded[1:] != (fixed_height, fixed_width) else []
        )
        if n != fixed_n:
            fits.append(f"--batch {n}")
        return (
            f"{self.source.name} was exported for {fixed_n} x {fixed_height} x {fixed_width} "
            f"maps, and {n} x {height} x {width} maps would render differently through it; "
            f"export with {' '.join(fits)}, or with --dynamic for any size"
        )

    def _generator_input(
        self,
        labels: torch.Tensor,
        instances: torch.Tensor | None,
        features: torch.Tensor | None,
    ) -> torch.Tensor:
        """The one-hot + edges + features input, written into a buffer kept per shape."""
        key = (*labels.shape, self.config.input_nc)
        buffer = self._input_buffers.get(key)
        if buffer is None:
            self._input_buffers.clear()  # keep one shape: a new size frees the old buffer
            n, h, w = labels.shape
            buffer = torch.empty(
                n, self.config.input_nc, h, w, dtype=self._backend.input_dtype, device=self.device
            )
            self._input_buffers[key] = buffer
        if features is not None:
            features = features.to(buffer.dtype)
        return ops.generator_input(
            labels,
            instances,
            self.config.label_nc,
            features=features,
            out=buffer,
            dtype=buffer.dtype,
        )

    def _feature_map(
        self,
        instances: torch.Tensor | None,
        style: dict[int, int] | None,
        features: ArrayLike | None,
        features_from: ArrayLike | None,
        seeds: list[int],
    ) -> torch.Tensor | None:
        config = self.config
        if not config.instance_feat:
            if features is not None or features_from is not None or style:
                raise ValueError("this model takes no instance features (style/features unused)")
            return None
        assert instances is not None  # a feature model always takes instance maps
        shape = tuple(instances.shape)
        if features is not None:
            feature_map = as_tensor(features, "features").to(self.device).float()
            if feature_map.ndim == 3:
                feature_map = feature_map[None]
            check_features(feature_map, shape, config.feat_num)
            return feature_map
        if features_from is not None:
            if self.encoder is None:
                raise ValueError(f"{self.source.name} has no encoder (latest_net_E.pth)")
            image = photo_tensor(features_from, shape).to(self.device)
            stride = max(config.downsampling, self._encoder_stride)
            with torch.inference_mode():
                encoded = self.encoder(
                    pad_for_network(image, stride), pad_for_network(instances, stride)
                )
            return encoded[:, :, : shape[1], : shape[2]].float()
        if not self.clusters:
            raise ValueError(
                f"{self.source.name} is a feature model without clusters: pass features=, "
                "features_from=, or a checkpoint with features_clustered_*.npy"
            )
        return cluster_features(instances, self.clusters, config.feat_num, style=style, seed=seeds)


def _part(maps: tuple[torch.Tensor | None, ...], part: slice) -> list[torch.Tensor | None]:
    return [m if m is None else m[part] for m in maps]
