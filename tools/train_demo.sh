#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Trains the demo model shipped in python/p2phd/demo/ from synthetic street scenes: a small
# global generator with instance features (encoder + k-means clusters), GAN + feature
# matching losses, no VGG (its weights cannot be downloaded here). Usage:
#   tools/train_demo.sh WORK_DIR [extra p2phd-train options]
# The released model was trained with this script on one NVIDIA H100 (BENCHMARKS.md).
set -euo pipefail
work=${1:?usage: tools/train_demo.sh WORK_DIR [p2phd-train options]}
shift
p2phd-synth "$work/data" --count 1500 --size 256x512 --phase train
p2phd-train --name demo --dataroot "$work/data" --checkpoints_dir "$work/checkpoints" \
  --netG global --ngf 16 --n_downsample_global 3 --n_blocks_global 6 --instance_feat \
  --resize_or_crop none --loadSize 512 --fineSize 512 --no_vgg_loss --batchSize 8 \
  --niter 6 --niter_decay 7 --max_iters 2400 --nThreads 8 --print_freq 4000 \
  --display_freq 8000 "$@"
mkdir -p python/p2phd/demo
cp "$work/checkpoints/demo/config.json" "$work/checkpoints/demo/weights.safetensors" \
  python/p2phd/demo/
