# SPDX-License-Identifier: Apache-2.0
"""`Runtime`: one object that renders label maps with a pix2pixHD generator on any backend."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from p2phd import checkpoint, ops
from p2phd.runtime import artifacts
from p2phd.runtime.batches import deliver, generate_in_parts, map_parts, render_maps_in_parts
from p2phd.runtime.devices import DeviceStream, torch_threads
from p2phd.runtime.features import (
    CentreTable,
    check_features,
    check_seeds,
    cluster_features,
)
from p2phd.runtime.fused_backend import FusedBackend
from p2phd.runtime.inputs import (
    ArrayLike,
    as_tensor,
    batched_maps,
    check_label_range,
    photo_tensor,
)
from p2phd.runtime.memory import RenderMemoryError, available_bytes, render_bytes
from p2phd.runtime.opening import open_artifact, open_checkpoint
from p2phd.runtime.options import check_option_names
from p2phd.runtime.padding import fixed_shape_refusal, network_size, pad_for_network
from p2phd.runtime.profile import RenderProfile
from p2phd.runtime.provenance import artifact_digest, provenance_record

BACKENDS = ("auto", "torch", "fused", "openvino", "onnxruntime", "tensorrt", "torchscript")

# Largest height or width render() accepts: 8192 covers 4x Cityscapes' 2048 and keeps one
# FP32 generator input of a 35-class model under 10 GB.
MAX_SIDE = 8192

ROUNDINGS = ("nearest", "public")
# Instance map dtypes whose every id an int32 holds.
_INT32_IDS = (torch.uint8, torch.int8, torch.int16, torch.uint16, torch.int32)
# Backends that compute on a CPU with a thread pool of their own. Their renders prepare the
# maps on one torch thread: torch's OpenMP workers, which keep spinning a while after each
# parallel region, would otherwise take the cores from the backend's threads (on 2 cores
# under load, a render took up to 1.5x the time of the same graph alone). That preparation
# is a few passes over the pixels, which one thread does in a few percent of the render.
_OWN_THREAD_POOLS = ("openvino", "onnxruntime")
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
        if (channels_last is not None or compile_mode is not None) and backend != "fused":
            raise ValueError(
                "channels_last and compile_mode apply to the fused backend (backend='fused') only"
            )
        self.source = path
        self.rounding = rounding
        self.memory_limit = memory_limit
        self._lock = threading.Lock()
        self._input_buffers: dict[tuple[int, ...], torch.Tensor] = {}
        self._feature_buffers: dict[tuple[int, ...], torch.Tensor] = {}
        openvino_options = (threads, openvino_config)
        if path.suffix in artifacts.SUFFIXES:
            opened = open_artifact(path, backend, device, precision, openvino_options, config)
        else:
            fused_options = (channels_last, compile_mode)
            opened = open_checkpoint(
                path, backend, device, precision, fused_options, openvino_options, config
            )
        self._backend = opened.backend
        self.config = opened.config
        self.clusters = opened.clusters
        self._centres: CentreTable | None = None  # self.clusters as one table, at first use
        self.encoder = opened.encoder
        self._encoder_stride = opened.encoder_stride
        # (N, H, W) an artifact exported at a fixed size takes; None where any size goes.
        self._fixed_shape = opened.fixed_shape
        # Set at load for checkpoints; an artifact's file digest is computed on first use.
        self._model_digest = opened.model_digest
        # Renders run on the Runtime's own stream: its buffers are never shared across streams.
        self._stream = DeviceStream(self.device)
        self._own_thread_pool = self.device.type == "cpu" and self.backend in _OWN_THREAD_POOLS
        if rounding == "public" and not self._backend.generates:
            raise ValueError(
                f"rounding='public' needs a backend that returns the float image; the "
                f"{self._backend.name} backend of {path.name} converts to uint8 inside the "
                "network with rounding to nearest (use backend='torch', or an export without "
                "preprocessing)"
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
        ONNX file, OpenVINO IR, TorchScript file or engine the bytes of the file (an IR's
        .bin too) and of its sidecar."""
        if self._model_digest is None:
            self._model_digest = artifact_digest(self.source)
        return self._model_digest

    def provenance(self) -> dict[str, str]:
        """What reproduces this Runtime's images, besides each map and its seed: the model
        (path and digest), backend, device, precision, rounding and p2phd version. JSON-ready;
        a dataset render records it with every output."""
        return provenance_record(
            self.source,
            self.model_digest,
            self.backend,
            str(self.device),
            self.precision,
            self.rounding,
        )

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
        # The encoder of features_from runs in torch: it keeps torch's threads.
        one_thread = self._own_thread_pool and features_from is None
        with (
            self._lock,
            torch_threads(1 if one_thread else None),
            profile.render() if profile else contextlib.nullcontext(),
        ):
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

    def encode_features(self, photo: ArrayLike, instances: ArrayLike) -> torch.Tensor:
        """The feature map render(labels, instances, features_from=photo) renders with:
        N x feat_num x H x W float32 on the CPU, each instance its mean of the encoder's
        features over its pixels. `photo` is uint8 [N x] H x W x 3; `instances` [N x] H x W."""
        if not self.config.instance_feat:
            raise ValueError("this model takes no instance features")
        instance_maps, _ = batched_maps(as_tensor(instances, "instances"), "instances")
        with self._lock:
            return self._stream.run(
                self._encode, photo, instance_maps.to(self.device, torch.int64)
            ).cpu()

    def _encode(self, photo: ArrayLike, instances: torch.Tensor) -> torch.Tensor:
        if self.encoder is None:
            raise ValueError(f"{self.source.name} has no encoder (latest_net_E.pth)")
        shape = tuple(instances.shape)
        image = photo_tensor(photo, shape).to(self.device)
        stride = max(self.config.downsampling, self._encoder_stride)
        with torch.inference_mode():
            encoded = self.encoder(
                pad_for_network(image, stride), pad_for_network(instances, stride)
            )
        return encoded[:, :, : shape[1], : shape[2]].float()

    def required_memory(self, n: int, height: int, width: int) -> int:
        """Bytes that a render of N x H x W maps is estimated to allocate (weights aside)."""
        stride = self.config.downsampling
        if self._fixed_shape is not None:
            n, height, width = self._fixed_shape
        else:
            height, width = network_size(height, stride), network_size(width, stride)
        element = self._backend.input_dtype.itemsize
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
            instance_maps = self._instance_maps(instances, tuple(label_maps.shape))
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
                check_label_range(label_maps, config.label_nc)
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
                result = render_maps_in_parts(self._backend, maps, self._map_parts(n))
            with stage("postprocess"):
                result = result[:, :height, :width]
                return deliver(result, single, returns_numpy, home)
        result = generate_in_parts(
            self._backend,
            generator_input,
            (height, width),
            output,
            self.rounding,
            self._map_parts(n),
            stage,
        )
        return deliver(result, single, returns_numpy, home)

    def _instance_maps(
        self, instances: ArrayLike | None, shape: tuple[int, ...]
    ) -> torch.Tensor | None:
        """The instance maps on the device (None for a model without instances), checked
        against the labels' N x H x W `shape`."""
        if not self.config.use_instance:
            if instances is not None:
                raise ValueError("this model takes no instance map (it was trained without one)")
            return None
        if instances is None:
            raise ValueError("this model needs an instance map (it takes instance edges)")
        instance_maps, _ = batched_maps(as_tensor(instances, "instances"), "instances")
        if tuple(instance_maps.shape) != shape:
            raise ValueError(f"labels are {shape} but instances are {tuple(instance_maps.shape)}")
        # int32 at least (uint16 tensors cannot be indexed for padding), and int64 where
        # int32 cannot hold every id: one pass over the map fewer on a CPU.
        narrow = instance_maps.dtype in _INT32_IDS
        return instance_maps.to(self.device, torch.int32 if narrow else torch.int64)

    def _map_parts(self, n: int) -> list[slice]:
        return map_parts(n, self._backend, self._fixed_shape)

    def _pad(self, *maps: torch.Tensor | None) -> list[torch.Tensor | None]:
        """Pads maps by reflection to sizes the network takes (network_size); an artifact
        exported at a fixed size takes only the maps that pad to that size."""
        n, height, width = maps[0].shape
        stride = self.config.downsampling
        if self._fixed_shape is not None:
            refusal = fixed_shape_refusal(
                self.source.name, self._fixed_shape, n, height, width, stride
            )
            if refusal is not None:
                raise ValueError(refusal)
        return [m if m is None else pad_for_network(m, stride) for m in maps]

    def _kept_buffer(
        self,
        buffers: dict[tuple[int, ...], torch.Tensor],
        shape: tuple[int, ...],
        dtype: torch.dtype,
    ) -> torch.Tensor:
        """A tensor of `shape` on the device kept in `buffers` from render to render (a new one
        each render pays its page faults); only one shape is kept: a new size frees the old."""
        buffer = buffers.get(shape)
        if buffer is None:
            buffers.clear()
            buffer = torch.empty(shape, dtype=dtype, device=self.device)
            buffers[shape] = buffer
        return buffer

    def _generator_input(
        self,
        labels: torch.Tensor,
        instances: torch.Tensor | None,
        features: torch.Tensor | None,
    ) -> torch.Tensor:
        """The one-hot + edges + features input, written into a buffer kept per shape."""
        n, h, w = labels.shape
        shape = (n, self.config.input_nc, h, w)
        buffer = self._kept_buffer(self._input_buffers, shape, self._backend.input_dtype)
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
            return self._encode(features_from, instances)
        if not self.clusters:
            raise ValueError(
                f"{self.source.name} is a feature model without clusters: pass features=, "
                "features_from=, or a checkpoint with features_clustered_*.npy"
            )
        n, h, w = shape
        buffer = self._kept_buffer(self._feature_buffers, (n, config.feat_num, h, w), torch.float32)
        if self._centres is None or self._centres.clusters is not self.clusters:
            self._centres = CentreTable(self.clusters, config.feat_num)
        return cluster_features(
            instances, self._centres, config.feat_num, style=style, seed=seeds, out=buffer
        )
