# SPDX-License-Identifier: Apache-2.0
"""What byte-reproducible batches cost on the OpenVINO CPU backend (issue 29), against one
plain inference of the whole batch, and what the alternatives would give: timed interleaved
in one process (one call of each case in turn, round after round), medians of wall time and
of process CPU time, and whether each case gives every map the bytes it gets alone.

  python tools/batch_overhead.py [--runs 40] [--sizes 64x128,256x512] [--batches 2,4]

The demo model's maps graph (labels, instances, features -> uint8), compiled with the
backend's own properties (openvino_backend.compile_properties: f32, LATENCY, 1 stream):
- batch N in one inference: the bar (a map's bytes depend on the batch);
- map by map: how the Runtime renders a batch now; Runtime.render: the same with its
  preprocessing and padding around it;
- batch N in one inference, ops split per map: the batch model with each instance norm (MVN)
  and transposed convolution split into one per map (the ops whose order OpenVINO changes
  with the batch), which gives each map its bytes alone in f32 (not in bf16);
- map by map, 2 requests queued: AsyncInferQueue on the same 1-stream model;
- map by map, 2 streams x 1 thread: two maps at once, each on one thread;
- ReduceMean norms: MVN rewritten into ReduceMean and arithmetic, which OpenVINO sums in one
  order at any batch and thread count (1 too), for one map and for the batch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from p2phd import checkpoint
from p2phd.data.synthetic import synthetic_scene
from p2phd.runtime import Runtime, openvino_models
from p2phd.runtime.openvino_backend import compile_properties

Feeds = dict[str, np.ndarray]


def parse_list(text: str) -> list[str]:
    return [item for item in text.split(",") if item]


def scene_maps(batch: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    scenes = [synthetic_scene(seed, height, width) for seed in range(batch)]
    return np.stack([s.labels for s in scenes]), np.stack([s.instances for s in scenes])


def norms_as_reduce_mean(model: Any) -> Any:
    """`model` with each MVN (the instance norms) as ReduceMean, Subtract, Multiply, Power."""
    import openvino.opset13 as ops

    for node in model.get_ordered_ops():
        if node.get_type_name() != "MVN":
            continue
        x, eps = node.input_value(0), np.float32(node.get_attributes()["eps"])
        axes = ops.constant(np.array([2, 3], np.int64))
        mean = ops.reduce_mean(x, axes, True)
        variance = ops.reduce_mean(ops.squared_difference(x, mean), axes, True)
        scale = ops.power(ops.add(variance, ops.constant(eps)), ops.constant(np.float32(-0.5)))
        node.output(0).replace(ops.multiply(ops.subtract(x, mean), scale).output(0))
    return model


def ops_split_per_map(model: Any) -> Any:
    """`model`, reshaped to a batch of N > 1, with each MVN and ConvolutionBackpropData split
    into N copies that take one map each, joined again."""
    import openvino.opset13 as ops

    for node in model.get_ordered_ops():
        kind = node.get_type_name()
        if kind not in ("MVN", "ConvolutionBackpropData"):
            continue
        source, *others = node.input_values()
        count = source.get_partial_shape()[0].get_length()
        given = node.get_attributes()
        copies = []
        for part in ops.split(source, ops.constant(np.int64(0)), count).outputs():
            if kind == "MVN":
                args = (given["normalize_variance"], given["eps"], given["eps_mode"])
                copies.append(ops.mvn(part, others[0], *args))
            else:
                pads = (given["pads_begin"], given["pads_end"], given["dilations"])
                copies.append(
                    ops.convolution_backprop_data(
                        part,
                        others[0],
                        given["strides"],
                        None,
                        *pads,
                        given["auto_pad"],
                        given["output_padding"],
                    )
                )
        node.output(0).replace(ops.concat(copies, 0).output(0))
    return model


def compiled(
    model: Any, feeds: Feeds, batch: int, properties: dict[str, Any], split: bool = False
) -> Any:
    shaped = model.clone()
    shaped.reshape({name: (batch, *array.shape[1:]) for name, array in feeds.items()})
    if split:
        ops_split_per_map(shaped)
    return openvino_models.core().compile_model(shaped, "CPU", properties)


def one_by_one(request: Any, maps: list[Feeds]) -> Callable[[], np.ndarray]:
    def run() -> np.ndarray:
        images = []
        for feeds in maps:
            request.infer(feeds, share_inputs=True)
            images.append(request.get_output_tensor(0).data.copy())
        return np.concatenate(images)

    return run


def whole(request: Any, feeds: Feeds) -> Callable[[], np.ndarray]:
    def run() -> np.ndarray:
        request.infer(feeds, share_inputs=True)
        return request.get_output_tensor(0).data.copy()

    return run


def queued(model: Any, maps: list[Feeds], properties: dict[str, Any]) -> Callable[[], np.ndarray]:
    import openvino as ov

    queue = ov.AsyncInferQueue(compiled(model, maps[0], 1, properties), 2)
    images: dict[int, np.ndarray] = {}
    queue.set_callback(
        lambda request, index: images.update({index: request.get_output_tensor(0).data.copy()})
    )

    def run() -> np.ndarray:
        for index, feeds in enumerate(maps):
            queue.start_async(feeds, index, share_inputs=True)
        queue.wait_all()
        return np.concatenate([images[i] for i in range(len(maps))])

    return run


def cases(runtime: Runtime, batch: int, height: int, width: int) -> dict[str, Callable[[], Any]]:
    labels, instances = scene_maps(batch, height, width)
    rng = np.random.default_rng(0)
    feeds = {
        "labels": labels.astype(np.int32),
        "instances": instances.astype(np.int32),
        "features": rng.standard_normal((batch, 3, height, width)).astype(np.float32),
    }
    maps = [{name: array[i : i + 1] for name, array in feeds.items()} for i in range(batch)]
    demo = checkpoint.load(checkpoint.resolve_model("demo"))
    plain = openvino_models.convert_generator(demo.generator.eval(), demo.config, True)
    exact = norms_as_reduce_mean(plain.clone())
    latency = compile_properties("fp32", None, None)
    streams = {**latency, "PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": 2}
    single = compiled(plain, feeds, 1, latency).create_infer_request()
    exact_single = compiled(exact, feeds, 1, latency).create_infer_request()
    return {
        f"batch {batch} in one inference": whole(
            compiled(plain, feeds, batch, latency).create_infer_request(), feeds
        ),
        "map by map (now)": one_by_one(single, maps),
        "Runtime.render (map by map)": lambda: runtime.render(labels, instances),
        f"batch {batch} in one, ops split per map": whole(
            compiled(plain, feeds, batch, latency, split=True).create_infer_request(), feeds
        ),
        "map by map, 2 requests queued": queued(plain, maps, latency),
        "map by map, 2 streams x 1 thread": queued(plain, maps, streams),
        "one map": one_by_one(single, maps[:1]),
        "ReduceMean norms, one map": one_by_one(exact_single, maps[:1]),
        f"ReduceMean norms, batch {batch} in one": whole(
            compiled(exact, feeds, batch, latency).create_infer_request(), feeds
        ),
    }


def time_interleaved(named: dict[str, Callable[[], Any]], runs: int) -> dict[str, tuple]:
    for case in named.values():  # warm-up round
        case()
    wall: dict[str, list[float]] = {name: [] for name in named}
    cpu: dict[str, list[float]] = {name: [] for name in named}
    for _ in range(runs):
        for name, case in named.items():
            began, began_cpu = time.perf_counter(), time.process_time()
            case()
            wall[name].append((time.perf_counter() - began) * 1e3)
            cpu[name].append((time.process_time() - began_cpu) * 1e3)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in named}


def same_bytes(named: dict[str, Callable[[], Any]]) -> dict[str, str]:
    """Whether each raw case gives each map the bytes of its graph's map alone (the
    ReduceMean batch: its first map)."""
    alone = named["map by map (now)"]()
    first_alone_exact = named["ReduceMean norms, one map"]()
    marks = {}
    for name, case in named.items():
        if name.startswith("Runtime") or "one map" in name:
            marks[name] = ""
        elif name.startswith("ReduceMean"):
            marks[name] = "yes" if np.array_equal(case()[:1], first_alone_exact) else "no"
        else:
            marks[name] = "yes" if np.array_equal(case(), alone) else "no"
    return marks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--sizes", type=parse_list, default=parse_list("64x128,256x512"))
    parser.add_argument("--batches", type=parse_list, default=parse_list("2,4"))
    args = parser.parse_args()
    runtime = Runtime("demo", device="cpu")
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; ratios against the first row")
    print(f"{'case':<40} {'HxW':>8} {'wall ms':>8} {'ratio':>6} {'CPU ms':>8} {'ratio':>6} bytes")
    for size in args.sizes:
        height, width = (int(v) for v in size.split("x"))
        for batch in (int(b) for b in args.batches):
            named = cases(runtime, batch, height, width)
            marks = same_bytes(named)
            timed = time_interleaved(named, args.runs)
            bar_wall, bar_cpu = next(iter(timed.values()))
            for name, (wall, cpu) in timed.items():
                print(
                    f"{name:<40} {size:>8} {wall:8.1f} {wall / bar_wall:6.3f} "
                    f"{cpu:8.1f} {cpu / bar_cpu:6.3f} {marks[name]}"
                )
    print(f"load after {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
