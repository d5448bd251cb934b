// SPDX-License-Identifier: Apache-2.0
// InstanceNorm (no affine, biased variance, as nn.InstanceNorm2d) fused with what follows it
// in a pix2pixHD generator: an optional ReLU, an optional residual add, and the reflection
// padding of the next convolution. The statistics read each 4096-pixel chunk twice in a row
// (the second time from cache), the output reads the input once more, where eager PyTorch
// makes several passes and a padded copy. Tensors are NCHW or NHWC (channels_last), all of
// one layout.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common.h"

namespace p2phd {

// Pixels per partial result. Each chunk of a channel gives its (count, mean, M2) by two
// passes over its pixels (the mean, then the sums of deviations from it); the chunks of a
// channel are then merged in double with Chan et al.'s pairwise formula. Neither an outlier
// nor a large offset cancels the variance, as E[x^2] - E[x]^2 does.
constexpr int64_t kNormChunk = 4096;
// CUDA threads per block of the statistics kernel.
constexpr int kNormThreads = 256;
// The most blocks one launch may have along x.
constexpr int64_t kMaxGridX = 2147483647;

struct InstanceNormShape {
  int64_t n;
  int64_t c;
  int64_t h;  // of the input
  int64_t w;
  int64_t pad;           // reflection padding of the output, < min(h, w)
  int64_t residual_pad;  // the residual is stored padded by this much
  bool relu;
  bool channels_last;
  float eps;
  P2PHD_HD int64_t planes() const { return n * c; }
  P2PHD_HD int64_t pixels() const { return h * w; }
  P2PHD_HD int64_t chunks() const { return (h * w + kNormChunk - 1) / kNormChunk; }
  P2PHD_HD int64_t chunk_begin(int64_t chunk) const { return chunk * kNormChunk; }
  P2PHD_HD int64_t chunk_end(int64_t chunk) const {
    return chunk_begin(chunk) + kNormChunk < pixels() ? chunk_begin(chunk) + kNormChunk : pixels();
  }
  P2PHD_HD TensorLayout input() const { return TensorLayout{c, h, w, channels_last}; }
  P2PHD_HD TensorLayout output() const {
    return TensorLayout{c, h + 2 * pad, w + 2 * pad, channels_last};
  }
  P2PHD_HD TensorLayout residual() const {
    return TensorLayout{c, h + 2 * residual_pad, w + 2 * residual_pad, channels_last};
  }
};

// The type the statistics and the normalisation are computed in: double for float32 inputs
// (as PyTorch's CPU norm), float for 16-bit ones, whose own rounding is far coarser.
template <typename T>
struct NormAcc {
  using type = float;
};
template <>
struct NormAcc<float> {
  using type = double;
};

// (count, mean, M2 = sum of squared deviations from the mean) of some pixels of a channel.
struct NormPartial {
  double count;
  double mean;
  double m2;
};

// The partial of `count` values from their approximate mean `centre` and the sums of their
// deviations d = x - centre: sum_d corrects the mean, and M2 = sum d^2 - (sum d)^2 / count.
P2PHD_HD NormPartial norm_partial(double count, double centre, double sum_d, double sum_d2) {
  const double m2 = sum_d2 - sum_d * sum_d / count;
  return NormPartial{count, centre + sum_d / count, m2 > 0.0 ? m2 : 0.0};
}

// Chan, Golub and LeVeque's merge of the partials of two disjoint sets of pixels.
P2PHD_HD NormPartial norm_merge(NormPartial a, NormPartial b) {
  if (a.count == 0.0) {
    return b;
  }
  const double count = a.count + b.count;
  const double delta = b.mean - a.mean;
  const double weight = b.count / count;
  return NormPartial{count, a.mean + delta * weight,
                     a.m2 + b.m2 + delta * delta * a.count * weight};
}

// How the statistics kernel covers the chunks: one block per (image, group of `channels`
// channels, chunk), numbered along x so that N * C may exceed gridDim.y's 65535. On NCHW a
// group is one channel (its chunk is contiguous); on NHWC a group holds up to kNormThreads
// neighbouring channels, with the spare threads as pixel lanes.
struct NormLaunch {
  int64_t blocks;
  int threads;
  int channels;    // per block
  int64_t groups;  // channel groups per image
};

inline NormLaunch instance_norm_launch(InstanceNormShape s) {
  const int channels = !s.channels_last      ? 1
                       : s.c < kNormThreads ? static_cast<int>(s.c)
                                            : kNormThreads;
  const int64_t groups = (s.c + channels - 1) / channels;
  const int64_t per_image = groups * s.chunks();
  if (s.n > 0 && per_image > kMaxGridX / s.n) {
    throw std::invalid_argument("p2phd: instance_norm: input too large for one launch");
  }
  return NormLaunch{s.n * per_image, channels * (kNormThreads / channels), channels, groups};
}

// The image, first channel and chunk that block `block` of a NormLaunch reduces.
struct NormBlock {
  int64_t n;
  int64_t c;
  int64_t chunk;
};

P2PHD_HD NormBlock norm_block(InstanceNormShape s, NormLaunch launch, int64_t block) {
  const int64_t chunk = block % s.chunks();
  const int64_t rest = block / s.chunks();
  return NormBlock{rest / launch.groups, (rest % launch.groups) * launch.channels, chunk};
}

// Partials are stored [N, C, chunks]; then mean and rstd [N, C, 2].
P2PHD_HD int64_t norm_partial_index(InstanceNormShape s, int64_t n, int64_t c, int64_t chunk) {
  return (n * s.c + c) * s.chunks() + chunk;
}

// Mean and 1 / sqrt(var + eps) (biased variance) of one channel of one image from its chunks.
P2PHD_HD void norm_statistics(const NormPartial* partials, int64_t chunks, float eps,
                              double* mean_rstd) {
  NormPartial total{0.0, 0.0, 0.0};
  for (int64_t i = 0; i < chunks; ++i) {
    total = norm_merge(total, partials[i]);
  }
  mean_rstd[0] = total.mean;
  mean_rstd[1] = 1.0 / sqrt(total.m2 / total.count + static_cast<double>(eps));
}

// Output element (n, c, oy, ox): normalized, ReLU'd if asked, plus the residual if given,
// read at the reflected input position.
template <typename T>
P2PHD_HD T instance_norm_value(const T* x, const T* residual, const double* mean_rstd,
                               InstanceNormShape s, int64_t n, int64_t c, int64_t oy, int64_t ox) {
  using Acc = typename NormAcc<T>::type;
  const int64_t iy = reflect_index(oy - s.pad, s.h);
  const int64_t ix = reflect_index(ox - s.pad, s.w);
  const Acc mean = static_cast<Acc>(mean_rstd[0]);
  const Acc rstd = static_cast<Acc>(mean_rstd[1]);
  Acc value = (static_cast<Acc>(to_float(x[s.input().offset(n, c, iy, ix)])) - mean) * rstd;
  if (s.relu) {
    value = value > Acc(0) ? value : Acc(0);
  }
  if (residual) {
    const int64_t r = s.residual_pad;
    value += static_cast<Acc>(to_float(residual[s.residual().offset(n, c, iy + r, ix + r)]));
  }
  return from_float<T>(static_cast<float>(value));
}

// Bytes of scratch the op needs: the partials, then mean and rstd per channel.
inline int64_t instance_norm_workspace_bytes(InstanceNormShape s) {
  return s.planes() * s.chunks() * static_cast<int64_t>(sizeof(NormPartial)) +
         s.planes() * 2 * static_cast<int64_t>(sizeof(double));
}

// x: [N, C, H, W]; residual: [N, C, H + 2 residual_pad, W + 2 residual_pad] or null;
// out: [N, C, H + 2 pad, W + 2 pad], all of one dtype and layout; workspace as above.
void instance_norm_cpu(const void* x, const void* residual, InstanceNormShape shape, void* out,
                       DType dtype, void* workspace);
void instance_norm_cuda(const void* x, const void* residual, InstanceNormShape shape, void* out,
                        DType dtype, void* workspace, int device, uintptr_t stream);

}  // namespace p2phd
