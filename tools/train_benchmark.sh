#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Training measurements on a GPU machine (BENCHMARKS.md, "Training"):
#   1. label2city_512p (global generator, ngf 64) on the 8 Cityscapes training triples at
#      512x256, FP32 (TF32 convolutions), then the same with --fp16 (AMP): seconds/iteration;
#   2. the demo model's configuration on synthetic scenes: seconds/iteration at batch 8.
# Usage: tools/train_benchmark.sh CITYSCAPES_SAMPLES_DIR RESULTS_DIR
set -euo pipefail
cityscapes=${1:?usage: tools/train_benchmark.sh CITYSCAPES_SAMPLES_DIR RESULTS_DIR}
results=${2:?usage: tools/train_benchmark.sh CITYSCAPES_SAMPLES_DIR RESULTS_DIR}
work=$(mktemp -d)
mkdir -p "$results"
common=(--netG global --ngf 64 --label_nc 35 --loadSize 512 --resize_or_crop scale_width
        --no_vgg_loss --batchSize 1 --print_freq 1 --quiet --nThreads 4)
p2phd-train --name city_fp32 --dataroot "$cityscapes" --checkpoints_dir "$work" \
  "${common[@]}" --max_iters 800 --display_freq 200
p2phd-train --name city_amp --dataroot "$cityscapes" --checkpoints_dir "$work" \
  "${common[@]}" --max_iters 300 --display_freq 1000 --fp16
p2phd-synth "$work/synthetic" --count 800 --size 256x512
p2phd-train --name demo_probe --dataroot "$work/synthetic" --checkpoints_dir "$work" \
  --netG global --ngf 16 --n_downsample_global 3 --n_blocks_global 6 --instance_feat \
  --resize_or_crop none --loadSize 512 --fineSize 512 --no_vgg_loss --batchSize 8 \
  --nThreads 8 --print_freq 8 --display_freq 100000 --quiet --max_iters 200
for run in city_fp32 city_amp demo_probe; do
  cp "$work/$run/loss_log.csv" "$results/${run}_loss_log.csv"
done
cp "$(ls "$work"/city_fp32/samples/*.png | tail -n 1)" "$results/city_fp32_samples.png"
python3 - "$results" <<'PY'
import csv, statistics, sys
for run in ("city_fp32", "city_amp", "demo_probe"):
    rows = list(csv.DictReader(open(f"{sys.argv[1]}/{run}_loss_log.csv")))
    seconds = [float(r["sec_per_iter"]) for r in rows[len(rows) // 5:]]
    print(f"{run}: {len(rows)} rows, median {statistics.median(seconds):.4f} s/iteration "
          f"({1 / statistics.median(seconds):.1f} it/s)")
PY
