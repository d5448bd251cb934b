# SPDX-License-Identifier: Apache-2.0
"""Timing of a whole render and of its stages against the public pipeline, FP16 eager and
torch.compile of the same weights (`p2phd-bench render`), and the peak device memory of a
render in a fresh process. Stages are timed through Runtime's public RenderProfile. On the
CPU the table is bench_cpu's: every CPU backend and precision beside bare OpenVINO and bare
onnxruntime on the same export, timed interleaved, with pixel differences from torch fp32.
Sizes are H x W throughout; a line on stderr announces each size and each long step."""

from __future__ import annotations

import functools
import multiprocessing
import statistics
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from p2phd import checkpoint, ops
from p2phd.bench import cpu as bench_cpu
from p2phd.bench import timing
from p2phd.bench.ops import public_preprocess
from p2phd.checkpoint import LoadedModel
from p2phd.data.synthetic import synthetic_scene
from p2phd.models import GeneratorConfig, build_generator
from p2phd.runtime import RenderProfile, Runtime
from p2phd.runtime.features import cluster_features
from p2phd.runtime.map_feeds import Maps

ARCHITECTURES = {
    # The public Cityscapes 2048x1024 model: 182.9 M parameters.
    "label2city_1024p": GeneratorConfig(netG="local", ngf=32),
    # The public 1024x512 model: the global generator alone.
    "label2city_512p": GeneratorConfig(netG="global", ngf=64),
    # Small enough for a CPU run of the whole table.
    "tiny": GeneratorConfig(netG="local", ngf=8, n_downsample_global=2, n_blocks_global=2),
}
# Models shipped with p2phd, timed with their trained weights (and clusters) as they are.
MODELS = tuple(checkpoint.MODEL_NAMES)


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
    # CPU: mean and largest |difference| in uint8 levels from the torch backend in fp32.
    mean_abs_diff: float | None = None
    max_abs_diff: int | None = None
    # CPU: the bench process's peak RSS during one render of the case (bench_cpu.peak_rss_mb).
    peak_rss_mb: float | None = None

    @property
    def size(self) -> str:
        """H x W, as --sizes takes it."""
        return f"{self.height}x{self.width}"


Progress = Callable[[str], None]


def print_progress(message: str) -> None:
    print(f"p2phd-bench: {message}", file=sys.stderr, flush=True)


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


def _model_maps(labels: torch.Tensor, instances: torch.Tensor, model: LoadedModel) -> Maps:
    """The maps, and for a feature model the feature map Runtime.render draws for them by
    default (seed 0 for every map), which the baselines take as their input."""
    features = None
    if model.config.instance_feat:
        config = model.config
        features = cluster_features(instances.long(), model.clusters or {}, config.feat_num)
    return Maps(labels, instances, features)


def _public_input(maps: Maps) -> torch.Tensor:
    """The public code's generator input: one-hot, edges, and the feature map if any."""
    public = public_preprocess(maps.labels, maps.instances)
    return public if maps.features is None else torch.cat((public, maps.features), dim=1)


def _bench_model(architecture: str, scratch: str) -> tuple[str, LoadedModel]:
    """The model to time and the bundle Runtime loads it from: a shipped model (MODELS) as
    it is, or an architecture with random weights saved as a bundle at `scratch`."""
    if architecture in MODELS:
        return str(checkpoint.resolve_model(architecture)), checkpoint.load(architecture)
    config = ARCHITECTURES[architecture]
    torch.manual_seed(0)
    model = LoadedModel(config=config, generator=build_generator(config))
    checkpoint.save_bundle(model, scratch)
    return scratch, model


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
    progress: Progress = print_progress,
) -> list[RenderTiming]:
    """Times every case for every size (H x W) and batch; Runtime renders on the torch and
    fused backends in each of `precisions` (on the CPU: bench_cpu's table). `architecture`
    is one of ARCHITECTURES (random weights, saved once as a bundle in `model_dir`) or of
    MODELS; Runtime loads the bundle, exactly as a user would. Exports go beside `model_dir`."""
    scratch = model_dir
    model_dir, model = _bench_model(architecture, scratch)
    generator = model.generator.eval().requires_grad_(False)
    baselines = _baselines(model.config, generator.to(device), compile_mode)
    runtime = Runtime(model_dir, device=device)
    on_cpu = device.type == "cpu"
    renders = (
        {}
        if on_cpu
        else _render_variants(model_dir, runtime, device, precisions, bool(compile_mode))
    )
    timings = []
    for height, width in sizes:
        for batch in batches:
            progress(f"{architecture} at {height}x{width}, batch {batch}")
            labels, instances = _scene_maps(height, width, batch, device)
            maps = _model_maps(labels, instances, model)
            if on_cpu:
                timings += _cpu_timings(
                    model_dir, scratch, baselines.fp32, maps, precisions, runs, warmup, progress
                )
            else:
                cases = _cases(renders, baselines, maps)
                timings += _gpu_timings(
                    model_dir, cases, renders, labels, device, runs, warmup, progress
                )
            timings += _stage_timings(runtime, labels, instances, runs, height, width, batch)
    return timings


@dataclass(frozen=True)
class Baselines:
    """The generator as PyTorch runs it without p2phd, in fp32 and in half precision (FP16 on
    CUDA, BF16 on the CPU), and that half-precision model compiled (None without a mode)."""

    fp32: nn.Module
    half: nn.Module
    compiled: nn.Module | None
    compile_mode: str | None
    label_nc: int


def _baselines(config: GeneratorConfig, fp32: nn.Module, compile_mode: str | None) -> Baselines:
    device = next(fp32.parameters()).device
    half_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    half = build_generator(config).eval().requires_grad_(False).to(device, half_dtype)
    half.load_state_dict(fp32.state_dict())
    compiled = torch.compile(half, mode=compile_mode) if compile_mode else None
    return Baselines(fp32, half, compiled, compile_mode, config.label_nc)


def _gpu_timings(
    model_dir: str,
    cases: list[Case],
    renders: RenderVariants,
    labels: torch.Tensor,
    device: torch.device,
    runs: int,
    warmup: int,
    progress: Progress,
) -> list[RenderTiming]:
    """Each case timed on its own, for its peak memory; the PSNR against the first case (the
    public pipeline); a p2phd render's peak in a fresh process beside it."""
    batch, height, width = labels.shape
    with torch.inference_mode():
        reference = cases[0][2]()
    timings = []
    for name, fn, produce in cases:
        if "compile" in name:
            progress(f"{name}: compiling at the first call (minutes for large models)")
        times, peak, quality = _measure(fn, produce, reference, device, runs, warmup)
        fresh_peak = None
        # Not for a compiled variant: the fresh process would compile it again.
        if device.type == "cuda" and name in renders and "compiled" not in name:
            options = renders[name][1]
            fresh_peak = peak_render_memory_mb(model_dir, options, batch, height, width)
        timings.append(_timing(name, height, width, batch, times, peak, quality, fresh_peak))
    return timings


def _measure(
    fn: Callable[[], object],
    produce: Callable[[], torch.Tensor] | None,
    reference: torch.Tensor,
    device: torch.device,
    runs: int,
    warmup: int,
) -> tuple[list[float], float | None, float | None]:
    """The times of `fn`, its peak CUDA memory above what was resident (MiB; None on the
    CPU) and the PSNR of what `produce` renders against `reference` (None without it)."""
    with torch.inference_mode():
        resident = 0
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            resident = torch.cuda.memory_allocated()
        cuda = device.type == "cuda"
        times = timing.measure([fn], runs, warmup, cuda=cuda).samples[0].wall_ms
        peak = (
            (torch.cuda.max_memory_allocated() - resident) / 2**20
            if device.type == "cuda"
            else None
        )
        quality = _psnr(produce(), reference) if produce is not None else None
    return times, peak, quality


def _timing(
    name: str,
    height: int,
    width: int,
    batch: int,
    times: list[float],
    working_mb: float | None = None,
    quality: float | None = None,
    peak_mb: float | None = None,
    difference: tuple[float, int] | None = None,
    peak_rss_mb: float | None = None,
) -> RenderTiming:
    median = statistics.median(times)
    return RenderTiming(
        name,
        height,
        width,
        batch,
        median,
        float(np.percentile(times, 90)),
        batch * 1e3 / median,
        working_mb,
        quality,
        peak_mb,
        *(difference or (None, None)),
        peak_rss_mb,
    )


def _stage_timings(
    runtime: Runtime,
    labels: torch.Tensor,
    instances: torch.Tensor,
    runs: int,
    height: int,
    width: int,
    batch: int,
) -> list[RenderTiming]:
    """The stages of the default backend's render, from `runs` profiled renders after one
    that compiles or captures what the shape needs."""
    runtime.render(labels, instances)
    profile = RenderProfile()
    for _ in range(runs):
        runtime.render(labels, instances, profile=profile)
    precision = runtime.precision
    whole = _timing(
        f"p2phd profiled {runtime.backend} render ({precision})",
        height,
        width,
        batch,
        profile.renders_ms,
    )
    stages = [
        _timing(f"p2phd {stage} ({precision})", height, width, batch, times)
        for stage, times in profile.stages_ms.items()
    ]
    return [whole, *stages, _untimed_remainder(profile, whole, stages, precision)]


def _untimed_remainder(
    profile: RenderProfile, whole: RenderTiming, stages: list[RenderTiming], precision: str
) -> RenderTiming:
    """What no stage times ("other"), so that the rows add up: its median is the render's
    median less the stages' medians, its p90 that of each render's remainder."""
    remainders = [
        total - sum(stage_times)
        for total, *stage_times in zip(profile.renders_ms, *profile.stages_ms.values(), strict=True)
    ]
    median = whole.median_ms - sum(stage.median_ms for stage in stages)
    return RenderTiming(
        f"p2phd other ({precision})",
        whole.height,
        whole.width,
        whole.batch,
        median,
        float(np.percentile(remainders, 90)),
        whole.batch * 1e3 / median if median > 0 else float("inf"),
        None,
        None,
    )


def _export_onnx(model_dir: str, scratch: str, batch: int, height: int, width: int) -> Path:
    """The bundle exported to ONNX with preprocessing for this shape, beside `scratch`."""
    from p2phd.export import export

    path = Path(f"{scratch}.{batch}x{height}x{width}.onnx")
    export(
        model_dir,
        to="onnx",
        size=(height, width),
        batch=batch,
        with_preprocess=True,
        out=path,
        verify=False,
        progress=None,
    )
    return path


def _cpu_timings(
    model_dir: str,
    scratch: str,
    fp32: nn.Module,
    maps: Maps,
    precisions: list[str],
    runs: int,
    warmup: int,
    progress: Progress,
) -> list[RenderTiming]:
    """The CPU table (bench_cpu): the public pipeline, Runtime on every CPU backend and
    precision and on the export, bare OpenVINO and onnxruntime on the export, interleaved;
    PSNR against the public pipeline, pixel difference against torch fp32."""
    batch, height, width = maps.labels.shape
    progress(f"exporting to ONNX for {batch}x{height}x{width} (with preprocessing)")
    export = _export_onnx(model_dir, scratch, batch, height, width)

    def public_pipeline() -> np.ndarray:
        return ops.to_uint8_image(fp32(_public_input(maps))).numpy()

    cases = [bench_cpu.CpuCase("public pipeline, FP32 eager", public_pipeline)]
    cases += bench_cpu.runtime_cases(model_dir, export, precisions, maps.labels, maps.instances)
    cases += bench_cpu.bare_cases(export, precisions, maps)
    progress(f"timing {len(cases)} cases interleaved, {warmup} warm-up + {runs} rounds")
    with torch.inference_mode():
        images = {case.name: case.render() for case in cases}
        measurement = timing.measure([case.render for case in cases], runs, warmup)
        rss = {case.name: bench_cpu.peak_rss_mb(case.render) for case in cases}
    progress(f"load average {measurement.load_before:.1f} -> {measurement.load_after:.1f}")
    public = torch.from_numpy(images[cases[0].name])
    reference = images[bench_cpu.REFERENCE]
    rows = []
    for case, samples in zip(cases, measurement.samples, strict=True):
        image = images[case.name]
        rows.append(
            _timing(
                case.name,
                height,
                width,
                batch,
                samples.wall_ms,
                quality=_psnr(torch.from_numpy(image), public),
                difference=bench_cpu.pixel_difference(image, reference),
                peak_rss_mb=rss[case.name],
            )
        )
    return rows


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


def _cases(renders: RenderVariants, baselines: Baselines, maps: Maps) -> list[Case]:
    """(name, what to time, what produces its image for the PSNR or None) for one input."""
    fp32, half, compiled = baselines.fp32, baselines.half, baselines.compiled
    labels, instances = maps.labels, maps.instances
    half_dtype = next(half.parameters()).dtype
    half_name = "FP16" if half_dtype == torch.float16 else "BF16"
    with torch.inference_mode():
        x_half = ops.generator_input(
            labels, instances, baselines.label_nc, features=maps.features, dtype=half_dtype
        )

    def public_pipeline() -> torch.Tensor:
        # The public code's precision: true FP32 convolutions, no TF32.
        with torch.backends.cudnn.flags(enabled=True, benchmark=True, allow_tf32=False):
            return ops.to_uint8_image(fp32(_public_input(maps)))

    def eager_half() -> torch.Tensor:
        return ops.to_uint8_image(half(x_half))

    cases: list[Case] = [
        ("public pipeline, FP32 eager", public_pipeline, public_pipeline),
        (f"eager {half_name}", eager_half, eager_half),
    ]
    if compiled is not None:
        mode = baselines.compile_mode
        cases.append((f"torch.compile {half_name} {mode}", lambda: compiled(x_half), None))
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
