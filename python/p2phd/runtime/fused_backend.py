# SPDX-License-Identifier: Apache-2.0
"""The generator run layer by layer with p2phd's fused kernels around PyTorch's convolutions.

Where eager PyTorch loses most time on these networks (../shared/GPU.md), p2phd's own ops
take over:
- the first 7x7 convolutions read the label map directly (`label_conv`: a weight gather per
  tap, no one-hot input written; for the coarse generator of a local enhancer, pooled);
- every InstanceNorm is one `instance_norm` call that also applies the ReLU, the residual
  add and the reflection padding of the next convolution, so no padded copies are made;
- the last 7x7 convolution, tanh and the conversion to uint8 are one `output_conv` call.
The remaining convolutions are PyTorch's (cuDNN on CUDA), by default on channels_last (NHWC)
tensors on CUDA, where cuDNN's FP16 convolutions of these shapes are faster than on NCHW
(../shared/GPU.md) and the p2phd ops read and write either layout. The result equals the
module's forward up to float rounding. On CUDA one render per input shape is captured as a
CUDA graph, on the backend's own stream (runtime.devices). With `compile_mode`,
torch.compile compiles the whole forward, the p2phd ops included as opaque custom operators
(fused_ops), so that it can choose the convolutions.

It is for CUDA GPUs, where it saves the passes over memory that eager PyTorch makes. It runs
on a CPU too (for tests and comparisons), but there it is 1.3-1.9x slower than the torch
backend (issue 23), so backend="auto" never picks it: on a CPU that is openvino.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from p2phd.models import GeneratorConfig
from p2phd.models.generator import GlobalGenerator, LocalEnhancer, ResnetBlock
from p2phd.runtime import fused_ops
from p2phd.runtime.devices import DeviceStream, cudnn_autotuning, require_kernels
from p2phd.runtime.map_feeds import Maps
from p2phd.runtime.torch_backend import PRECISIONS

# The backend captures its own CUDA graph, so a mode that makes torch.compile capture one too
# is refused.
COMPILE_MODES = ("default", "max-autotune-no-cudagraphs")

_MapKey = tuple[tuple[int, ...], torch.dtype] | None


class FusedBackend:
    name = "fused"
    takes_maps = True  # it takes label, instance and feature maps, and returns uint8 images
    generates = False  # no float image

    def __init__(
        self,
        generator: nn.Module,
        config: GeneratorConfig,
        device: torch.device,
        precision: str,
        channels_last: bool | None = None,
        compile_mode: str | None = None,
    ) -> None:
        if compile_mode is not None and compile_mode not in COMPILE_MODES:
            raise ValueError(
                f"compile_mode must be one of {', '.join(COMPILE_MODES)} (the fused backend "
                f"captures its own CUDA graph), got {compile_mode!r}"
            )
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if not isinstance(generator, GlobalGenerator | LocalEnhancer):
            raise ValueError(
                f"the fused backend runs p2phd's GlobalGenerator and LocalEnhancer, not "
                f"{type(generator).__name__}"
            )
        require_kernels(device)
        self.device = device
        self.stream = DeviceStream(device)
        self.precision = precision
        self.input_dtype = PRECISIONS[precision]
        self.config = config
        self.channels_last = device.type == "cuda" if channels_last is None else channels_last
        self.memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        self.generator = generator.eval().requires_grad_(False).to(device, self.input_dtype)
        self.generator.to(memory_format=self.memory_format)
        self.compile_mode = compile_mode
        self._run = (
            self.forward
            if compile_mode is None
            else torch.compile(self.forward, mode=compile_mode, fullgraph=True, dynamic=False)
        )
        # (input keys) -> (graph, static inputs, output); one entry, for the current shape.
        self._graph: tuple[tuple[_MapKey, ...], torch.cuda.CUDAGraph, list, torch.Tensor] | None
        self._graph = None

    def render_maps(self, maps: Maps) -> torch.Tensor:
        """N x H x W labels (valid: the Runtime checks them), instance ids and N x K x H x W
        features on the device -> N x H x W x 3 uint8 images (a new tensor, ready for the
        caller's current stream)."""
        if self.device.type != "cuda":
            with torch.inference_mode():
                return self._run(maps)
        return self.stream.run(self._replay, list(maps))

    def _replay(self, inputs: list[torch.Tensor | None]) -> torch.Tensor:
        key = tuple(None if t is None else (tuple(t.shape), t.dtype) for t in inputs)
        if self._graph is None or self._graph[0] != key:
            self._graph = None  # frees the previous shape's graph memory first
            self._graph = (key, *self._capture(inputs))
        _, graph, static, output = self._graph
        for buffer, value in zip(static, inputs, strict=True):
            if buffer is not None:
                buffer.copy_(value)
        graph.replay()
        return output.clone()

    def _capture(
        self, inputs: list[torch.Tensor | None]
    ) -> tuple[torch.cuda.CUDAGraph, list[torch.Tensor | None], torch.Tensor]:
        """Runs on the backend's stream (inside render_maps)."""
        static = [None if t is None else t.clone() for t in inputs]
        with cudnn_autotuning(), torch.inference_mode():
            for _ in range(2):  # cuDNN and torch.compile choose their kernels outside the capture
                self._run(Maps(*static))
        graph = torch.cuda.CUDAGraph()
        with self.stream.capturing(graph), torch.inference_mode():
            output = self._run(Maps(*static))
        return graph, static, output

    def forward(self, maps: Maps) -> torch.Tensor:
        """The generator on maps already on the device, without a CUDA graph or compilation:
        N x H x W x 3 uint8."""
        labels, instances, features = maps
        dtype = self.input_dtype
        label_nc = self.config.label_nc
        edges = None if instances is None else fused_ops.instance_edges(instances, dtype)
        features = None if features is None else features.to(dtype)
        generator = self.generator
        if isinstance(generator, GlobalGenerator):
            layers = list(generator.model)
            x = self._label_conv(labels, edges, features, layers[1])
            x = _run_layers(layers[2:-3], x, pad_after=3)
            return fused_ops.output_conv(x, layers[-2].weight, layers[-2].bias)

        scales = generator.n_local_enhancers
        layers = list(generator.model)
        pyramid = []
        if scales == 1:
            # The coarse generator takes the input pooled once: label_conv pools on the fly.
            coarse = self._label_conv(labels, edges, features, layers[1], pool=True)
        else:
            # Deeper pyramids pool the dense input repeatedly, as the module does.
            pyramid.append(fused_ops.generator_input(labels, instances, features, label_nc, dtype))
            for _ in range(scales):
                pyramid.append(generator.downsample(pyramid[-1]))
            coarse = self._padded_conv(pyramid[-1], layers[1])
        out = _run_layers(layers[2:], coarse, pad_after=0)
        for n in range(1, scales + 1):
            front = list(getattr(generator, f"model{n}_1"))
            back = list(getattr(generator, f"model{n}_2"))
            if n == scales:
                x = self._label_conv(labels, edges, features, front[1])
            else:
                x = self._padded_conv(pyramid[scales - n], front[1])
            x = _run_layers(front[2:], x, pad_after=_pad_wanted(back[0]), residual=out)
            padding = _pad_wanted(back[0])
            if n < scales:
                out = _run_layers(back, x, pad_after=0, padding=padding)
        x = _run_layers(back[:-3], x, pad_after=3, padding=padding)
        return fused_ops.output_conv(x, back[-2].weight, back[-2].bias)

    def _label_conv(
        self,
        labels: torch.Tensor,
        edges: torch.Tensor | None,
        features: torch.Tensor | None,
        conv: nn.Conv2d,
        pool: bool = False,
    ) -> torch.Tensor:
        return fused_ops.label_conv(
            labels, conv.weight, conv.bias, self.config.label_nc, edges, features, pool,
            self.input_dtype, self.channels_last,
        )  # fmt: skip

    def _padded_conv(self, x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
        pad = conv.kernel_size[0] // 2
        x = F.pad(x, (pad, pad, pad, pad), mode="reflect").contiguous(
            memory_format=self.memory_format
        )
        return F.conv2d(x, conv.weight, conv.bias)


def _pad_wanted(layer: nn.Module | None) -> int:
    """The reflection padding the input of `layer` should be stored with: a residual block
    pads by 1 before its first convolution; convolutions pad with zeros themselves."""
    return 1 if isinstance(layer, ResnetBlock) else 0


def _run_layers(
    layers: list[nn.Module],
    x: torch.Tensor,
    pad_after: int,
    residual: torch.Tensor | None = None,
    padding: int = 0,
) -> torch.Tensor:
    """Runs `layers` (InstanceNorm [+ ReLU], Conv2d, ConvTranspose2d and ResnetBlock, as the
    generators stack them) on x, stored with reflection `padding`. Each norm writes its result
    padded for the next layer; the last one writes it padded by `pad_after`, and adds
    `residual` after its ReLU."""
    i = 0
    while i < len(layers):
        layer = layers[i]
        following = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(layer, nn.InstanceNorm2d):
            relu = isinstance(following, nn.ReLU)
            i += 2 if relu else 1
            last = i == len(layers)
            padding = pad_after if last else _pad_wanted(layers[i])
            x = fused_ops.instance_norm(x, residual if last else None, relu, padding, 0, layer.eps)
            continue
        if isinstance(layer, ResnetBlock):
            if padding != 1:
                x = F.pad(x, (1, 1, 1, 1), mode="reflect")
            last = i + 1 == len(layers)
            padding = pad_after if last else _pad_wanted(following)
            x = _resnet_block(layer, x, padding)
        elif isinstance(layer, nn.Conv2d) and padding == 0:
            x = F.conv2d(x, layer.weight, layer.bias, layer.stride, layer.padding)
        elif isinstance(layer, nn.ConvTranspose2d) and padding == 0:
            x = F.conv_transpose2d(
                x, layer.weight, layer.bias, layer.stride, layer.padding, layer.output_padding
            )
        else:
            raise ValueError(f"the fused backend cannot run {layer} here")
        i += 1
    if padding != pad_after:
        raise ValueError("the fused backend expects the layers to end in an InstanceNorm")
    return x


def _resnet_block(block: ResnetBlock, x_padded: torch.Tensor, pad_after: int) -> torch.Tensor:
    """x + (conv, norm, ReLU, conv, norm)(x) for x stored padded by 1, written padded by
    pad_after."""
    first, second = block.conv_block[1], block.conv_block[5]
    norm = block.conv_block[2]
    h = F.conv2d(x_padded, first.weight, first.bias)
    h = fused_ops.instance_norm(h, None, True, 1, 0, norm.eps)
    h = F.conv2d(h, second.weight, second.bias)
    return fused_ops.instance_norm(h, x_padded, False, pad_after, 1, norm.eps)
