# SPDX-License-Identifier: Apache-2.0
"""Timing of the native ops against the pure-torch reference, numpy, and the public
pix2pixHD way of doing the same thing (`p2phd-bench ops`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from p2phd import ops, reference
from p2phd.bench import timing

LABEL_NC = 35
FEATURE_CHANNELS = 3

# One timed call: (op, implementation, the call).
Case = tuple[str, str, Callable[[], object]]


@dataclass(frozen=True)
class Timing:
    op: str
    implementation: str
    median_ms: float
    p90_ms: float


def blocky_scene(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A label map (uint8) and instance map (int32) of axis-aligned blocks, Cityscapes-like in
    its numbers: 35 classes, a few hundred instances, large flat regions."""
    rng = np.random.default_rng(seed)
    cells_y, cells_x = 16, 32
    cell_labels = rng.integers(0, LABEL_NC, (cells_y, cells_x))
    cell_ids = rng.integers(0, 40, (cells_y, cells_x))
    rows = np.arange(height) * cells_y // height
    cols = np.arange(width) * cells_x // width
    labels = cell_labels[rows[:, None], cols[None, :]].astype(np.uint8)
    things = labels.astype(np.int32) >= 24  # Cityscapes "thing" classes carry instance numbers
    instances = np.where(
        things, labels.astype(np.int32) * 1000 + cell_ids[rows[:, None], cols[None, :]], labels
    ).astype(np.int32)
    return labels, instances


def public_preprocess(labels: torch.Tensor, instances: torch.Tensor) -> torch.Tensor:
    """The public code's input: scatter one-hot in FP32, a uint8 edge map, concatenated."""
    n, h, w = labels.shape
    one_hot = torch.zeros(n, LABEL_NC, h, w, device=labels.device)
    one_hot.scatter_(1, labels.long().unsqueeze(1), 1.0)
    t = instances.unsqueeze(1)
    edge = torch.zeros_like(t, dtype=torch.bool)
    edge[:, :, :, 1:] |= t[:, :, :, 1:] != t[:, :, :, :-1]
    edge[:, :, :, :-1] |= t[:, :, :, 1:] != t[:, :, :, :-1]
    edge[:, :, 1:, :] |= t[:, :, 1:, :] != t[:, :, :-1, :]
    edge[:, :, :-1, :] |= t[:, :, 1:, :] != t[:, :, :-1, :]
    return torch.cat((one_hot, edge.float()), dim=1)


def public_instance_mean(features: torch.Tensor, instances: torch.Tensor) -> torch.Tensor:
    """The public encoder's pooling: a Python loop over instance ids with boolean masks."""
    out = features.clone()
    for b in range(instances.shape[0]):
        for instance_id in instances[b].unique().tolist():
            mask = instances[b] == instance_id
            for k in range(features.shape[1]):
                out[b, k][mask] = features[b, k][mask].mean()
    return out


def public_instance_broadcast(
    instances: torch.Tensor, ids: torch.Tensor, table: torch.Tensor
) -> torch.Tensor:
    """The public inference features: a Python loop over the listed instances with masks."""
    n, h, w = instances.shape
    out = torch.zeros(n, table.shape[1], h, w, device=instances.device)
    for j, instance_id in enumerate(ids.tolist()):
        mask = (instances == instance_id).unsqueeze(1).expand_as(out)
        out[mask] = table[j].view(1, -1, 1, 1).expand_as(out)[mask]
    return out


def numpy_generator_input(labels: np.ndarray, instances: np.ndarray) -> np.ndarray:
    one_hot = (labels[:, None] == np.arange(LABEL_NC)[None, :, None, None]).astype(np.float32)
    # Each pixel against its four neighbours; the border repeated, so that outside the image
    # nothing differs.
    padded = np.pad(instances, ((0, 0), (1, 1), (1, 1)), mode="edge")
    neighbours = (
        padded[:, :-2, 1:-1],
        padded[:, 2:, 1:-1],
        padded[:, 1:-1, :-2],
        padded[:, 1:-1, 2:],
    )
    edge = np.logical_or.reduce([instances != neighbour for neighbour in neighbours])
    return np.concatenate([one_hot, edge[:, None].astype(np.float32)], axis=1)


def numpy_instance_mean(features: np.ndarray, instances: np.ndarray) -> np.ndarray:
    out = np.empty_like(features)
    for b in range(features.shape[0]):
        ids, inverse = np.unique(instances[b].ravel(), return_inverse=True)
        counts = np.bincount(inverse, minlength=ids.size)
        for k in range(features.shape[1]):
            sums = np.bincount(inverse, weights=features[b, k].ravel(), minlength=ids.size)
            out[b, k] = (sums / counts)[inverse].reshape(features.shape[2:])
    return out


def numpy_instance_broadcast(
    instances: np.ndarray, ids: np.ndarray, table: np.ndarray
) -> np.ndarray:
    order = np.argsort(ids)
    position = np.searchsorted(ids[order], instances).clip(max=ids.size - 1)
    found = ids[order][position] == instances
    rows = np.where(found[..., None], table[order[position]], 0)
    return np.moveaxis(rows, -1, 1)


def numpy_to_uint8(y: np.ndarray) -> np.ndarray:
    t = np.nan_to_num((y + 1) / 2, nan=0.0).clip(0, 1)
    return np.rint(t * 255).astype(np.uint8).transpose(0, 2, 3, 1)


def layer_cases(
    labels: torch.Tensor, instances: torch.Tensor, dense_input: torch.Tensor
) -> list[Case]:
    """The fused generator layers at the shapes of label2city_1024p (32 channels at full size,
    the coarse generator's 64 at half size) against what eager FP16 PyTorch runs for them
    (cuDNN). CUDA only: on the CPU the torch convolutions take minutes at 2048 x 1024."""
    half = torch.float16
    generator = torch.Generator().manual_seed(1)
    first = torch.randn(32, LABEL_NC + 1, 7, 7, generator=generator).to(labels.device, half)
    coarse = torch.randn(64, LABEL_NC + 1, 7, 7, generator=generator).to(labels.device, half)
    last = torch.randn(3, 32, 7, 7, generator=generator).to(labels.device, half)
    first_bias = torch.zeros(32, device=labels.device, dtype=half)
    last_bias = torch.zeros(3, device=labels.device, dtype=half)
    ops.generator_input(labels, instances, LABEL_NC, dtype=half, out=dense_input)
    edges = ops.instance_edges(instances, half)
    n, _, h, w = dense_input.shape
    x = torch.randn(n, 32, h, w, generator=generator).to(labels.device, half)
    padded = F.pad(x, (3, 3, 3, 3), mode="reflect")

    def torch_first() -> torch.Tensor:
        return F.conv2d(F.pad(dense_input, (3, 3, 3, 3), mode="reflect"), first, first_bias)

    def torch_coarse() -> torch.Tensor:
        pooled = F.avg_pool2d(dense_input, 3, stride=2, padding=1, count_include_pad=False)
        return F.conv2d(F.pad(pooled, (3, 3, 3, 3), mode="reflect"), coarse)

    def torch_norm() -> torch.Tensor:
        return F.pad(F.relu(F.instance_norm(x)), (3, 3, 3, 3), mode="reflect")

    def torch_last() -> torch.Tensor:
        return ops.to_uint8_image(torch.tanh(F.conv2d(padded, last, last_bias)))

    return [
        (
            "label_conv 36->32 fp16",
            "p2phd",
            lambda: ops.label_conv(
                labels, first, first_bias, LABEL_NC, edges=edges, dtype=half, check=False
            ),
        ),
        ("label_conv 36->32 fp16", "torch (pad + cuDNN conv)", torch_first),
        (
            "label_conv pooled 36->64 fp16",
            "p2phd",
            lambda: ops.label_conv(
                labels, coarse, None, LABEL_NC, edges=edges, pool=True, dtype=half, check=False
            ),
        ),
        ("label_conv pooled 36->64 fp16", "torch (pool + pad + cuDNN conv)", torch_coarse),
        ("instance_norm+relu+pad 32 fp16", "p2phd", lambda: ops.instance_norm(x, relu=True, pad=3)),
        ("instance_norm+relu+pad 32 fp16", "torch", torch_norm),
        ("output_conv 32->3 fp16", "p2phd", lambda: ops.output_conv(padded, last, last_bias)),
        ("output_conv 32->3 fp16", "torch (cuDNN conv + tanh)", torch_last),
    ]


@dataclass(frozen=True)
class OpInputs:
    """One batch of maps and the tensors and buffers the timed ops take."""

    labels_np: np.ndarray
    instances_np: np.ndarray
    labels: torch.Tensor
    instances: torch.Tensor
    features: torch.Tensor
    ids: torch.Tensor
    table: torch.Tensor
    y: torch.Tensor
    input_buffer: torch.Tensor
    input_buffer_fp32: torch.Tensor
    image_buffer: torch.Tensor

    def tensors(self) -> tuple[torch.Tensor, ...]:
        """labels, instances, features, ids, table, y."""
        return self.labels, self.instances, self.features, self.ids, self.table, self.y

    def buffers(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The fp16 and fp32 generator input buffers and the uint8 image buffer."""
        return self.input_buffer, self.input_buffer_fp32, self.image_buffer


def make_inputs(height: int, width: int, batch: int, device: str) -> OpInputs:
    """Blocky scenes and random features, table and image, seeded, on the device."""
    labels_np, instances_np = blocky_scene(height, width)
    labels_np = np.repeat(labels_np[None], batch, 0)
    instances_np = np.repeat(instances_np[None], batch, 0)
    labels = torch.from_numpy(labels_np).to(device)
    instances = torch.from_numpy(instances_np).to(device)
    generator = torch.Generator().manual_seed(0)
    features = torch.rand(batch, FEATURE_CHANNELS, height, width, generator=generator).to(device)
    ids = instances.unique()
    table = torch.rand(ids.numel(), FEATURE_CHANNELS, generator=generator).to(device)
    y = (torch.rand(batch, 3, height, width, generator=generator) * 2 - 1).to(device)
    half = torch.float16
    # The same ops writing into buffers allocated once, as Runtime does.
    input_buffer = torch.empty(batch, LABEL_NC + 1, height, width, dtype=half, device=device)
    input_buffer_fp32 = torch.empty(batch, LABEL_NC + 1, height, width, device=device)
    image_buffer = torch.empty(batch, height, width, 3, dtype=torch.uint8, device=device)
    return OpInputs(
        labels_np,
        instances_np,
        labels,
        instances,
        features,
        ids,
        table,
        y,
        input_buffer,
        input_buffer_fp32,
        image_buffer,
    )


def common_cases(x: OpInputs) -> list[Case]:
    """The cases timed on every device."""
    labels, instances, features, ids, table, y = x.tensors()
    input_buffer, input_buffer_fp32, image_buffer = x.buffers()
    half = torch.float16
    return [
        (
            "generator_input fp16",
            "p2phd",
            lambda: ops.generator_input(labels, instances, LABEL_NC, dtype=half),
        ),
        (
            "generator_input fp16",
            "torch reference",
            lambda: reference.generator_input(labels, instances, LABEL_NC, dtype=half),
        ),
        (
            "generator_input fp16",
            "public (scatter fp32)",
            lambda: public_preprocess(labels, instances),
        ),
        (
            "generator_input fp16",
            "p2phd, out= reused",
            lambda: ops.generator_input(labels, instances, LABEL_NC, dtype=half, out=input_buffer),
        ),
        ("generator_input fp32", "p2phd", lambda: ops.generator_input(labels, instances, LABEL_NC)),
        (
            "generator_input fp32",
            "p2phd, out= reused",
            lambda: ops.generator_input(labels, instances, LABEL_NC, out=input_buffer_fp32),
        ),
        ("one_hot fp16", "p2phd", lambda: ops.one_hot(labels, LABEL_NC, half)),
        ("one_hot fp16", "torch reference", lambda: reference.one_hot(labels, LABEL_NC, half)),
        ("instance_edges fp16", "p2phd", lambda: ops.instance_edges(instances, half)),
        (
            "instance_edges fp16",
            "torch reference",
            lambda: reference.instance_edges(instances, half),
        ),
        ("instance_mean", "p2phd", lambda: ops.instance_mean(features, instances)),
        ("instance_mean", "torch reference", lambda: reference.instance_mean(features, instances)),
        (
            "instance_mean",
            "public (python loop)",
            lambda: public_instance_mean(features, instances),
        ),
        ("instance_broadcast", "p2phd", lambda: ops.instance_broadcast(instances, ids, table)),
        (
            "instance_broadcast",
            "torch reference",
            lambda: reference.instance_broadcast(instances, ids, table),
        ),
        (
            "instance_broadcast",
            "public (python loop)",
            lambda: public_instance_broadcast(instances, ids, table),
        ),
        ("to_uint8_image", "p2phd", lambda: ops.to_uint8_image(y)),
        ("to_uint8_image", "p2phd, out= reused", lambda: ops.to_uint8_image(y, out=image_buffer)),
        ("to_uint8_image", "torch reference", lambda: reference.to_uint8_image(y)),
    ]


def cuda_cases(x: OpInputs) -> list[Case]:
    """CUDA only: the ops without their error check, and the layers."""
    labels, instances, features, ids, table, _ = x.tensors()
    half = torch.float16
    # check=False skips reading the error flag back, the one host-device sync of an op.
    cases = [
        (
            "generator_input fp16",
            "p2phd, check=False",
            lambda: ops.generator_input(labels, instances, LABEL_NC, dtype=half, check=False),
        ),
        (
            "instance_mean",
            "p2phd, check=False",
            lambda: ops.instance_mean(features, instances, check=False),
        ),
        (
            "instance_broadcast",
            "p2phd, check=False",
            lambda: ops.instance_broadcast(instances, ids, table, check=False),
        ),
    ]
    cases += layer_cases(labels, instances, x.input_buffer)
    return cases


def cpu_cases(x: OpInputs) -> list[Case]:
    """CPU only: numpy versions, and the kernels on one thread."""
    labels, instances, features, ids, table, y = x.tensors()
    labels_np, instances_np = x.labels_np, x.instances_np
    input_buffer, _, image_buffer = x.buffers()
    half = torch.float16
    features_np, ids_np, table_np, y_np = (
        features.numpy(),
        ids.numpy(),
        table.numpy(),
        y.numpy(),
    )
    cases = [
        (
            "generator_input fp32",
            "numpy",
            lambda: numpy_generator_input(labels_np, instances_np),
        ),
        ("instance_mean", "numpy", lambda: numpy_instance_mean(features_np, instances_np)),
        (
            "instance_broadcast",
            "numpy",
            lambda: numpy_instance_broadcast(instances_np, ids_np, table_np),
        ),
        ("to_uint8_image", "numpy", lambda: numpy_to_uint8(y_np)),
    ]
    # The same kernels on one thread: what the OpenMP loops bring on this machine.
    cases += [
        (
            "generator_input fp16",
            "p2phd, out= reused, 1 thread",
            lambda: ops.generator_input(
                labels, instances, LABEL_NC, dtype=half, out=input_buffer, threads=1
            ),
        ),
        (
            "one_hot fp16",
            "p2phd, 1 thread",
            lambda: ops.one_hot(labels, LABEL_NC, half, threads=1),
        ),
        (
            "instance_edges fp16",
            "p2phd, 1 thread",
            lambda: ops.instance_edges(instances, half, threads=1),
        ),
        (
            "instance_mean",
            "p2phd, 1 thread",
            lambda: ops.instance_mean(features, instances, threads=1),
        ),
        (
            "instance_broadcast",
            "p2phd, 1 thread",
            lambda: ops.instance_broadcast(instances, ids, table, threads=1),
        ),
        (
            "to_uint8_image",
            "p2phd, out= reused, 1 thread",
            lambda: ops.to_uint8_image(y, out=image_buffer, threads=1),
        ),
    ]
    return cases


def time_cases(cases: list[Case], device: str, runs: int) -> list[Timing]:
    """Median and 90th percentile of each case, all cases timed interleaved (two warm-up
    rounds); the python loops, far slower, in fewer rounds of their own. On CUDA a run times
    ten back-to-back calls (one of a python loop), as ops follow each other on a stream in a
    pipeline; a call that synchronises (check=True) still pays for it."""
    slow = [case for case in cases if "python loop" in case[1]]
    fast = [case for case in cases if case not in slow]
    cuda = device == "cuda"
    timings = dict(zip(fast, _timings(fast, runs, cuda, 10 if cuda else 1), strict=True))
    timings |= zip(slow, _timings(slow, max(3, runs // 4), cuda, 1), strict=True)
    return sorted((timings[case] for case in cases), key=lambda t: t.op)


def _timings(cases: list[Case], runs: int, cuda: bool, calls_per_run: int) -> list[Timing]:
    measurement = timing.measure(
        [fn for _, _, fn in cases], runs, warmup=2, cuda=cuda, calls_per_run=calls_per_run
    )
    return [
        Timing(op, implementation, samples.median_ms, samples.p90_ms)
        for (op, implementation, _), samples in zip(cases, measurement.samples, strict=True)
    ]


def run(height: int, width: int, batch: int, device: str, runs: int) -> list[Timing]:
    x = make_inputs(height, width, batch, device)
    cases = common_cases(x)
    if device == "cuda":
        cases += cuda_cases(x)
    if device == "cpu":
        cases += cpu_cases(x)
    return time_cases(cases, device, runs)
