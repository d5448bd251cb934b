# SPDX-License-Identifier: Apache-2.0
"""Timing of a whole render and of its stages against the public pipeline, FP16 eager and
torch.compile of the same weights (`p2phd-bench render`), and the peak device memory of a
render in a fresh process."""

from __future__ import annotations

import functools
import multiprocessing
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from p2phd import checkpoint, ops
from p2phd.bench_ops import public_preprocess
from p2phd.data.synthetic import synthetic_scene
from p2phd.models import GeneratorConfig, build_generator
from p2phd.runtime import Runtime

ARCHITECTURES = {
    # The public Cityscapes 2048x1024 model: 182.9 M parameters.
    "label2city_1024p": GeneratorConfig(netG="local", ngf=32),
    # The public 1024x512 model: the global generator alone.
    "label2city_512p": GeneratorConfig(netG="global", ngf=64),
    # Small enough for a CPU run of the whole table.
    "tiny": GeneratorConfig(netG="local", ngf=8, n_downsample_global=2, n_blocks_global=2),
}


@dataclass(frozen=True)
class RenderTiming:
    case: str
    height: int
    width: int
    batch: int
    median_ms: float
    p90_ms: float
    images_per_s: float
    working_memory_mb: float | None  # CUDA: peak allocation over what was resident before
    psnr_db: float | None
    # CUDA, p2phd renders: the most a fresh process that loads the model and renders this
    # size ever allocates (weights, buffers, CUDA graph pool).
    peak_memory_mb: float | None = None


def _time(fn: Callable[[], object], device: torch.device, runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            began = time.perf_counter()
            fn()
            times.append((time.perf_counter() - began) * 1e3)
    return times


def _psnr(image: torch.Tensor, reference: torch.Tensor) -> float:
    mse = (image.double() - reference.double()).pow(2).mean().item()
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def _scene_maps(
    height: int, width: int, batch: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    scenes = [synthetic_scene(seed, height, width) for seed in range(batch)]
    labels = torch.from_numpy(np.stack([s.labels for s in scenes])).to(device)
    instances = torch.from_numpy(np.stack([s.instances for s in scenes])).to(device)
    return labels, instances


def run(
    architecture: str,
    sizes: list[tuple[int, int]],
    batches: list[int],
    device: torch.device,
    runs: int,
    warmup: int,
    compile_mode: str | None,
    model_dir: str,
    precisions: list[str],
) -> list[RenderTiming]:
    """Times every case for every size and batch; Runtime renders on the torch and fused
    backends in each of `precisions`. The model is saved once as a bundle in `model_dir` and
    loaded by Runtime, exactly as a user would."""
    config = ARCHITECTURES[architecture]
    torch.manual_seed(0)
    generator = build_generator(config).eval().requires_grad_(False)
    checkpoint.save_bundle(checkpoint.LoadedModel(config=config, generator=generator), model_dir)
    fp32 = generator.to(device)
    half_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    half = build_generator(config).eval().requires_grad_(False).to(device, half_dtype)
    half.load_state_dict(fp32.state_dict())
    compiled = torch.compile(half, mode=compile_mode) if compile_mode else None
    runtime = Runtime(model_dir, device=device)
    renders = _render_variants(model_dir, runtime, device, precisions, compile_mode is not None)
    timings = []
    for height, width in sizes:
        for batch in batches:
            labels, instances = _scene_maps(height, width, batch, device)
            with torch.inference_mode():
                cases = _cases(
                    runtime, renders, fp32, half, compiled, compile_mode, labels, instances
                )
                reference = cases[0][2]()
            for name, fn, produce in cases:
                with torch.inference_mode():
                    resident = 0
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                        torch.cuda.reset_peak_memory_stats()
                        resident = torch.cuda.memory_allocated()
                    times = _time(fn, device, runs, warmup)
                    peak = (
                        (torch.cuda.max_memory_allocated() - resident) / 2**20
                        if device.type == "cuda"
                        else None
                    )
                    quality = _psnr(produce(), reference) if produce is not None else None
                median = statistics.median(times)
                fresh_peak = None
                # Not for a compiled variant: the fresh process would compile it again.
                if device.type == "cuda" and name in renders and "compiled" not in name:
                    options = renders[name][1]
                    fresh_peak = peak_render_memory_mb(model_dir, options, batch, height, width)
                timings.append(
                    RenderTiming(
                        name,
                        height,
                        width,
                        batch,
                        median,
                        float(np.percentile(times, 90)),
                        batch * 1e3 / median,
                        peak,
                        quality,
                        fresh_peak,
                    )
                )
    return timings


Case = tuple[str, Callable[[], object], Callable[[], torch.Tensor] | None]
RenderVariants = dict[str, tuple[Runtime, dict[str, object]]]


def _render_variants(
    model_dir: str,
    runtime: Runtime,
    device: torch.device,
    precisions: list[str],
    with_compile: bool,
) -> RenderVariants:
    """The Runtime configurations timed end to end: name -> (runtime, its Runtime options).
    `runtime`, the torch backend whose stages are timed, serves its own precision."""
    variants: list[dict[str, object]] = []
    for precision in precisions:
        variants += [{"precision": precision}, {"backend": "fused", "precision": precision}]
    if device.type == "cuda":  # the fused default there is NHWC; time NCHW beside it
        variants.append({"backend": "fused", "precision": "fp16", "channels_last": False})
        if with_compile:
            variants.append(
                {
                    "backend": "fused",
                    "precision": "fp16",
                    "compile_mode": "max-autotune-no-cudagraphs",
                }
            )
    renders: RenderVariants = {}
    for options in variants:
        same = options == {"precision": runtime.precision}
        loaded = runtime if same else Runtime(model_dir, device=device, **options)
        fused = ""
        if loaded.backend == "fused":
            fused = " fused NHWC" if loaded.channels_last else " fused NCHW"
        compiled = " compiled" if "compile_mode" in options else ""
        renders[f"p2phd render{fused}{compiled} ({loaded.precision})"] = (loaded, options)
    return renders


def _cases(
    runtime: Runtime,
    renders: RenderVariants,
    fp32: nn.Module,
    half: nn.Module,
    compiled: nn.Module | None,
    compile_mode: str | None,
    labels: torch.Tensor,
    instances: torch.Tensor,
) -> list[Case]:
    """(name, what to time, what produces its image for the PSNR or None) for one input."""
    half_dtype = next(half.parameters()).dtype
    half_name = "FP16" if half_dtype == torch.float16 else "BF16"
    label_nc = runtime.config.label_nc
    x_half = ops.generator_input(labels, instances, label_nc, dtype=half_dtype)
    # The stages of a render, as Runtime runs them (one shape, buffers reused).
    generator_input = runtime._generator_input(labels, instances, None)
    generated = runtime._backend.generate(generator_input)

    def public_pipeline() -> torch.Tensor:
        # The public code's precision: true FP32 convolutions, no TF32.
        with torch.backends.cudnn.flags(enabled=True, benchmark=True, allow_tf32=False):
            return ops.to_uint8_image(fp32(public_preprocess(labels, instances)))

    def eager_half() -> torch.Tensor:
        return ops.to_uint8_image(half(x_half))

    cases: list[Case] = [
        ("public pipeline, FP32 eager", public_pipeline, public_pipeline),
        (f"eager {half_name}", eager_half, eager_half),
    ]
    if compiled is not None:
        cases.append((f"torch.compile {half_name} {compile_mode}", lambda: compiled(x_half), None))
    cases += [
        ("p2phd preprocess", lambda: runtime._generator_input(labels, instances, None), None),
        ("p2phd generator", lambda: runtime._backend.generate(generator_input), None),
        ("p2phd postprocess", lambda: ops.to_uint8_image(generated), None),
    ]
    for name, (loaded, _) in renders.items():
        render = functools.partial(loaded.render, labels, instances)
        cases.append((name, render, render))
    return cases


def _peak_memory_child(
    model_dir: str, options: dict[str, object], batch: int, height: int, width: int
) -> float:
    torch.backends.cudnn.benchmark = True
    runtime = Runtime(model_dir, device="cuda", **options)
    labels, instances = _scene_maps(height, width, batch, torch.device("cuda"))
    for _ in range(3):  # capture, then replays
        runtime.render(labels, instances)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() / 2**20


def peak_render_memory_mb(
    model_dir: str, options: dict[str, object], batch: int, height: int, width: int
) -> float:
    """The peak CUDA allocation, in MiB, of a fresh process that loads the model from
    `model_dir` with Runtime `options` and renders N x H x W maps already on the GPU: all a user
    process needs for it, the weights included (cuDNN workspaces too, as PyTorch allocates
    them; not the CUDA context)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_peak_memory_child, model_dir, options, batch, height, width).result()
