# SPDX-License-Identifier: Apache-2.0
"""`Runtime`: one object that renders label maps with a pix2pixHD generator on any backend."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from p2phd import checkpoint, ops
from p2phd.export.sidecar import clusters_from_sidecar, read_sidecar
from p2phd.models import GeneratorConfig
from p2phd.runtime.features import check_features, cluster_features
from p2phd.runtime.fused_backend import FusedBackend
from p2phd.runtime.onnx_backend import OnnxBackend
from p2phd.runtime.padding import pad_to_size, pad_to_stride
from p2phd.runtime.tensorrt_backend import TensorRTBackend
from p2phd.runtime.torch_backend import TorchBackend
from p2phd.runtime.torchscript_backend import TorchScriptBackend

ArrayLike = np.ndarray | torch.Tensor
Backend = TorchBackend | FusedBackend | OnnxBackend | TensorRTBackend | TorchScriptBackend

# Largest height or width render() accepts: 8192 covers 4x Cityscapes' 2048 and keeps one
# FP32 generator input of a 35-class model under 10 GB.
MAX_SIDE = 8192

_ENGINE_SUFFIXES = (".engine", ".plan", ".trt")
_INTEGER_DTYPES = (torch.uint8, torch.int16, torch.uint16, torch.int32, torch.int64)


def _resolve_device(device: str | torch.device) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} was asked for, but CUDA is not available here")
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    return resolved


def _as_tensor(array: ArrayLike, name: str) -> torch.Tensor:
    if isinstance(array, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(array))
    if isinstance(array, torch.Tensor):
        return array
    raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(array).__name__}")


def _batched_maps(maps: torch.Tensor, name: str) -> tuple[torch.Tensor, bool]:
    if maps.dtype not in _INTEGER_DTYPES:
        raise ValueError(f"{name} must be an integer map (uint8 ... int64), got {maps.dtype}")
    if maps.ndim == 3 and maps.shape[-1] in (3, 4) and min(maps.shape[:2]) >= 16:
        raise ValueError(
            f"{name} has shape {tuple(maps.shape)}, which looks like an RGB image; pass an "
            "H x W (or N x H x W) map of ids"
        )
    if maps.ndim == 2:
        return maps[None], True
    if maps.ndim == 3:
        return maps, False
    raise ValueError(f"{name} must be H x W or N x H x W, got shape {tuple(maps.shape)}")


def _image_tensor(image: ArrayLike, shape: tuple[int, int, int]) -> torch.Tensor:
    """A photo for the encoder: uint8 [N x] H x W x 3, or float [N x] 3 x H x W in [-1, 1]."""
    tensor = _as_tensor(image, "features_from")
    if tensor.dtype == torch.uint8:
        if tensor.ndim == 3:
            tensor = tensor[None]
        tensor = tensor.permute(0, 3, 1, 2).float() / 127.5 - 1
    elif tensor.ndim == 3:
        tensor = tensor[None]
    n, h, w = shape
    if tuple(tensor.shape) != (n, 3, h, w):
        raise ValueError(
            f"features_from must be an RGB photo of the maps' size {h} x {w}, got shape "
            f"{tuple(image.shape)}"
        )
    return tensor.float()


class Runtime:
    """Renders [N x] H x W label maps (and instance maps) into [N x] H x W x 3 uint8 images.

    `source` is a public pix2pixHD checkpoint (a directory with latest_net_G.pth, or any
    *_net_G.pth), a p2phd bundle, an ONNX file, a TorchScript file (.pt) or a TensorRT engine
    (with the JSON sidecar p2phd-export writes next to it; feature models take their cluster
    table from it). `backend` is "auto", "torch", "fused" (PyTorch's convolutions with
    p2phd's fused first layer, norms and last layer; uint8 output only), "onnxruntime",
    "torchscript" or "tensorrt"; `device` "auto", "cpu" or "cuda[:N]"; `precision` "auto",
    "fp32", "fp16" or "bf16" (torch and fused; an exported artifact has its own);
    `channels_last` runs the fused backend's convolutions on NHWC tensors (default: on
    CUDA, not on the CPU), and `compile_mode` ("default" or "max-autotune-no-cudagraphs")
    has torch.compile compile its forward (minutes at the first render of a shape). `config`
    holds the public checkpoint options (label_nc, use_instance, feat_num, instance_feat,
    which_epoch, clusters), or the GeneratorConfig fields of an ONNX file or engine without a
    sidecar.

    One Runtime can be shared between threads: render() calls run one at a time.
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
        **config: Any,
    ) -> None:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such checkpoint, bundle, ONNX file or engine")
        if backend not in ("auto", "torch", "fused", "onnxruntime", "tensorrt", "torchscript"):
            raise ValueError(
                "backend must be auto, torch, fused, onnxruntime, tensorrt or torchscript, "
                f"got {backend!r}"
            )
        if (channels_last is not None or compile_mode is not None) and backend != "fused":
            raise ValueError(
                "channels_last and compile_mode apply to the fused backend (backend='fused') only"
            )
        self.source = path
        self.encoder: torch.nn.Module | None = None
        self.clusters: dict[int, np.ndarray] | None = None
        self._lock = threading.Lock()
        self._input_buffers: dict[tuple[int, ...], torch.Tensor] = {}
        # (N, H, W) an artifact exported at a fixed size takes; None where any size goes.
        self._fixed_shape: tuple[int, int, int] | None = None
        if path.suffix == ".onnx":
            self._backend = self._load_artifact(path, backend, "onnxruntime", device, config)
        elif path.suffix in _ENGINE_SUFFIXES:
            self._backend = self._load_artifact(path, backend, "tensorrt", device, config)
        elif path.suffix == ".pt":
            self._backend = self._load_artifact(path, backend, "torchscript", device, config)
        else:
            self._backend = self._load_checkpoint(
                path, backend, device, precision, (channels_last, compile_mode), config
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
        if backend not in ("auto", "torch", "fused"):
            raise ValueError(
                f"backend {backend!r} runs an exported model: export {path} with p2phd-export "
                "and pass the .onnx or engine file"
            )
        model = checkpoint.load(path, **config)
        self.config = model.config
        self.clusters = model.clusters
        resolved = _resolve_device(device)
        if precision == "auto":
            precision = "fp16" if resolved.type == "cuda" else "fp32"
        if model.encoder is not None:
            self.encoder = model.encoder.eval().requires_grad_(False).to(resolved)
        if backend == "fused":
            return FusedBackend(model.generator, model.config, resolved, precision, *fused_options)
        return TorchBackend(model.generator, resolved, precision)

    def _load_artifact(
        self, path: Path, backend: str, kind: str, device: str | torch.device, config: dict
    ) -> Backend:
        if backend not in ("auto", kind):
            raise ValueError(f"{path.name} runs on the {kind} backend, not {backend!r}")
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
        if kind == "tensorrt":
            # The backend itself explains that an engine needs a GPU when there is none.
            return TensorRTBackend(path, torch.device("cuda" if device == "auto" else device))
        resolved = _resolve_device("cpu" if device == "auto" else device)
        if kind == "torchscript":
            assert sidecar is not None
            return TorchScriptBackend(path, _resolve_device(device), sidecar)
        return OnnxBackend(path, resolved)

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

    def describe(self) -> str:
        c = self.config
        features = f", {c.feat_num} instance features" if c.instance_feat else ""
        layout = {None: "", True: ", NHWC", False: ", NCHW"}[self.channels_last]
        return (
            f"{self.source.name}: {c.netG} generator (ngf {c.ngf}, {c.label_nc} labels"
            f"{', instance edges' if c.use_instance else ''}{features}) on {self.backend}, "
            f"{self.device}, {self.precision}{layout}; sizes padded to multiples of "
            f"{c.downsampling}"
        )

    def render(
        self,
        labels: ArrayLike,
        instances: ArrayLike | None = None,
        *,
        style: dict[int, int] | None = None,
        features: ArrayLike | None = None,
        features_from: ArrayLike | None = None,
        seed: int | None = None,
        output: Literal["uint8", "float"] = "uint8",
    ) -> ArrayLike:
        """[N x] H x W labels (+ instance ids) -> [N x] H x W x 3 uint8, or with
        output="float" [N x] 3 x H x W in [-1, 1]. numpy in, numpy out; torch in, torch out
        on the input's device. Any H, W: maps are padded by reflection to the network's
        stride and the result is cropped back.

        Feature models: `features` gives the N x feat_num x H x W map; `features_from` encodes
        a photo (uint8 H x W x 3) with the encoder; otherwise every instance takes a cluster
        centre of its class, `style[instance_id]` where given, else drawn with `seed`."""
        if output not in ("uint8", "float"):
            raise ValueError(f"output must be 'uint8' or 'float', got {output!r}")
        with self._lock:
            return self._render(labels, instances, style, features, features_from, seed, output)

    def _render(
        self,
        labels: ArrayLike,
        instances: ArrayLike | None,
        style: dict[int, int] | None,
        features: ArrayLike | None,
        features_from: ArrayLike | None,
        seed: int | None,
        output: str,
    ) -> ArrayLike:
        config = self.config
        returns_numpy = isinstance(labels, np.ndarray)
        label_maps, single = _batched_maps(_as_tensor(labels, "labels"), "labels")
        home = label_maps.device
        n, height, width = label_maps.shape
        if max(height, width) > MAX_SIDE or min(height, width) < 1:
            raise ValueError(
                f"maps of {height} x {width}: height and width must lie in [1, {MAX_SIDE}]"
            )
        label_maps = label_maps.to(self.device)
        instance_maps = None
        if config.use_instance:
            if instances is None:
                raise ValueError("this model needs an instance map (it takes instance edges)")
            instance_maps, _ = _batched_maps(_as_tensor(instances, "instances"), "instances")
            if instance_maps.shape != label_maps.shape:
                raise ValueError(
                    f"labels are {tuple(label_maps.shape)} but instances are "
                    f"{tuple(instance_maps.shape)}"
                )
            # int32 at least: uint16 tensors cannot be indexed for padding.
            instance_maps = instance_maps.to(self.device, torch.int64)
        elif instances is not None:
            raise ValueError("this model takes no instance map (it was trained without one)")
        feature_map = self._feature_map(instance_maps, style, features, features_from, seed)

        label_maps, instance_maps, feature_map = self._pad(label_maps, instance_maps, feature_map)

        try:
            if self._backend.takes_maps:
                if output == "float":
                    raise ValueError(f"{self.source.name} returns uint8 images only")
                # The graph's one-hot cannot raise: an invalid label would render as zeros.
                low, high = int(label_maps.min()), int(label_maps.max())
                if low < 0 or high >= config.label_nc:
                    bad = low if low < 0 else high
                    raise ValueError(f"labels must lie in [0, {config.label_nc}): got {bad}")
                result = self._backend.render_maps(label_maps, instance_maps, feature_map)
                result = result[:, :height, :width]
            else:
                generated = self._backend.generate(
                    self._generator_input(label_maps, instance_maps, feature_map)
                )[:, :, :height, :width]
                # A copy either way: the backend may reuse the memory of `generated`.
                result = (
                    generated.to(torch.float32, copy=True)
                    if output == "float"
                    else ops.to_uint8_image(generated)
                )
        except ValueError as error:
            if "label" in str(error) and "outside" in str(error):
                raise ValueError(f"labels must lie in [0, {config.label_nc}): {error}") from None
            raise
        if single:
            result = result[0]
        return result.cpu().numpy() if returns_numpy else result.to(home)

    def _pad(self, *maps: torch.Tensor | None) -> list[torch.Tensor | None]:
        """Pads maps by reflection to the network's stride, or to the fixed size of an
        artifact exported for one size."""
        n, height, width = maps[0].shape
        if self._fixed_shape is None:
            stride = self.config.downsampling
            return [m if m is None else pad_to_stride(m, stride) for m in maps]
        fixed_n, fixed_height, fixed_width = self._fixed_shape
        if n != fixed_n or height > fixed_height or width > fixed_width:
            raise ValueError(
                f"{self.source.name} was exported for {fixed_n} x {fixed_height} x {fixed_width} "
                f"maps, got {n} x {height} x {width}; export with --dynamic for other sizes"
            )
        return [m if m is None else pad_to_size(m, fixed_height, fixed_width) for m in maps]

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
        seed: int | None,
    ) -> torch.Tensor | None:
        config = self.config
        if not config.instance_feat:
            if features is not None or features_from is not None or style:
                raise ValueError("this model takes no instance features (style/features unused)")
            return None
        assert instances is not None  # a feature model always takes instance maps
        shape = tuple(instances.shape)
        if features is not None:
            feature_map = _as_tensor(features, "features").to(self.device).float()
            if feature_map.ndim == 3:
                feature_map = feature_map[None]
            check_features(feature_map, shape, config.feat_num)
            return feature_map
        if features_from is not None:
            if self.encoder is None:
                raise ValueError(f"{self.source.name} has no encoder (latest_net_E.pth)")
            image = _image_tensor(features_from, shape).to(self.device)
            stride = config.downsampling
            with torch.inference_mode():
                encoded = self.encoder(
                    pad_to_stride(image, stride), pad_to_stride(instances, stride)
                )
            return encoded[:, :, : shape[1], : shape[2]].float()
        if not self.clusters:
            raise ValueError(
                f"{self.source.name} is a feature model without clusters: pass features=, "
                "features_from=, or a checkpoint with features_clustered_*.npy"
            )
        return cluster_features(instances, self.clusters, config.feat_num, style=style, seed=seed)
