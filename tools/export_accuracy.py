# SPDX-License-Identifier: Apache-2.0
"""Each artifact's error against float64 truth beside torch FP32/FP16's own, on Cityscapes maps.

    PYTHONPATH=python python tools/export_accuracy.py MODEL N_MAPS KIND... [--step S]

MODEL: anything p2phd-export takes, or `label2city_1024p` (that architecture, random weights,
seed 0). KIND: FORMAT-PRECISION[-preprocess], FORMAT onnx or torchscript. The first N_MAPS
maps of the Cityscapes samples (every S-th pixel with --step S); prints one JSON row per
artifact (the errors of `p2phd.export.verify`) after the time of the float64 run.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from p2phd import ops
from p2phd.artifact_io import io_tensors
from p2phd.checkpoint import LoadedModel, load
from p2phd.export import export, verify
from p2phd.export.onnx import run_onnxruntime
from p2phd.export.torchscript import run_torchscript
from p2phd.models.config import GeneratorConfig
from p2phd.models.generator import build_generator

SAMPLES = Path(os.environ.get("P2PHD_SHARED", "/work/shared")) / "data" / "cityscapes_samples"


def model_of(source: str) -> LoadedModel:
    if source != "label2city_1024p":
        return load(source)
    torch.manual_seed(0)
    config = GeneratorConfig(netG="local", ngf=32)
    return LoadedModel(config=config, generator=build_generator(config).eval())


def cityscapes(count: int, step: int) -> list[tuple[np.ndarray, np.ndarray]]:
    maps = []
    for path in sorted((SAMPLES / "test_label").glob("*_labelIds.png"))[:count]:
        ids = SAMPLES / "test_inst" / path.name.replace("labelIds", "instanceIds")
        labels = np.array(Image.open(path))[::step, ::step].astype(np.int32)
        maps.append((labels, np.array(Image.open(ids))[::step, ::step].astype(np.int32)))
    return maps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("maps", type=int)
    parser.add_argument("kinds", nargs="+")
    parser.add_argument("--step", type=int, default=1)
    args = parser.parse_args()
    model = model_of(args.model)
    maps = cityscapes(args.maps, args.step)
    sample = verify.make_sample(model.config, maps, model.clusters, seed=0)
    started = time.perf_counter()
    with torch.inference_mode():  # a map at a time: float64 activations are large
        truth = torch.cat(
            [verify.float64_generator(model.generator)(x[None].double()) for x in sample.x]
        )
    print(json.dumps({"float64_s": round(time.perf_counter() - started, 1)}), flush=True)
    references = {}
    for precision in sorted({kind.split("-")[1] for kind in args.kinds}):
        generator = model.generator.float().eval()
        if precision == "fp16":
            generator = verify.half_generator(generator)
        dtype = torch.float16 if precision == "fp16" else torch.float32
        with torch.inference_mode():
            y = torch.cat([generator(x[None].to(dtype)).double() for x in sample.x])
        references[precision] = verify.References(
            truth, verify.exact_uint8(truth), y, ops.to_uint8_image(y.float())
        )
    for kind in args.kinds:
        to, precision, *rest = kind.split("-")
        with_preprocess = rest == ["preprocess"]
        inputs, _ = io_tensors(model.config, precision, with_preprocess)
        feeds = sample.feeds(inputs)
        run = run_torchscript if to == "torchscript" else run_onnxruntime
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / ("model.pt" if to == "torchscript" else "model.onnx")
            size = maps[0][0].shape
            export(
                model,
                to=to,
                precision=precision,
                size=size,
                dynamic=True,
                batch=len(maps),
                with_preprocess=with_preprocess,
                out=out,
                verify=False,
            )
            got = np.concatenate(
                [run(out, {k: v[i : i + 1] for k, v in feeds.items()}) for i in range(len(maps))]
            )
        check = verify.compare(
            to,
            "torch" if to == "torchscript" else "onnxruntime",
            got,
            references[precision],
            precision,
            with_preprocess,
        )
        row = {
            "kind": kind,
            "maps": len(maps),
            "size": list(maps[0][0].shape),
            "passed": check.passed,
            "artifact": vars(check.artifact),
            "torch": vars(check.torch),
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
