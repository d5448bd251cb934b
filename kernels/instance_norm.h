// SPDX-License-Identifier: Apache-2.0
// InstanceNorm (no affine, biased variance, as nn.InstanceNorm2d) fused with what follows it
// in a pix2pixHD generator: an optional ReLU, an optional residual add, and the reflection
// padding of the next convolution. One read of the input for the statistics and one for the
// output, where eager PyTorch makes several passes and a padded copy. Tensors are NCHW or
// NHWC (channels_last), all of one layout.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common.h"

namespace p2phd {

// Pixels per partial sum. Each chunk sums float values relative to the channel's first
// element (which keeps float cancellation small); chunks are combined in double.
constexpr int64_t kNormChunk = 4096;

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
  P2PHD_HD TensorLayout input() const { return TensorLayout{c, h, w, channels_last}; }
  P2PHD_HD TensorLayout output() const {
    return TensorLayout{c, h + 2 * pad, w + 2 * pad, channels_last};
  }
  P2PHD_HD TensorLayout residual() const {
    return TensorLayout{c, h + 2 * residual_pad, w + 2 * residual_pad, channels_last};
  }
};

struct NormPartial {
  float sum;
  float sum_squares;
};

// Partial sums are stored [N, C, chunks]; then mean and rstd [N, C, 2].
P2PHD_HD int64_t norm_partial_index(InstanceNormShape s, int64_t n, int64_t c, int64_t chunk) {
  return (n * s.c + c) * s.chunks() + chunk;
}

// Mean and 1 / sqrt(var + eps) of one channel of one image from its chunks' partial sums.
P2PHD_HD void norm_statistics(const NormPartial* partials, int64_t chunks, float shift,
                              int64_t count, float eps, float* mean_rstd) {
  double sum = 0.0;
  double sum_squares = 0.0;
  for (int64_t i = 0; i < chunks; ++i) {
    sum += partials[i].sum;
    sum_squares += partials[i].sum_squares;
  }
  const double mean = sum / count;
  double variance = sum_squares / count - mean * mean;
  variance = variance > 0.0 ? variance : 0.0;
  mean_rstd[0] = static_cast<float>(shift + mean);
  mean_rstd[1] = static_cast<float>(1.0 / sqrt(variance + eps));
}

// Output element (n, c, oy, ox): normalized, ReLU'd if asked, plus the residual if given,
// read at the reflected input position.
template <typename T>
P2PHD_HD T instance_norm_value(const T* x, const T* residual, const float* mean_rstd,
                               InstanceNormShape s, int64_t n, int64_t c, int64_t oy, int64_t ox) {
  const int64_t iy = reflect_index(oy - s.pad, s.h);
  const int64_t ix = reflect_index(ox - s.pad, s.w);
  float value = (to_float(x[s.input().offset(n, c, iy, ix)]) - mean_rstd[0]) * mean_rstd[1];
  if (s.relu) {
    value = value > 0.0f ? value : 0.0f;
  }
  if (residual) {
    const int64_t r = s.residual_pad;
    value += to_float(residual[s.residual().offset(n, c, iy + r, ix + r)]);
  }
  return from_float<T>(value);
}

// Bytes of scratch the op needs: the partial sums, then mean and rstd per channel.
inline int64_t instance_norm_workspace_bytes(InstanceNormShape s) {
  return s.planes() * s.chunks() * static_cast<int64_t>(sizeof(NormPartial)) +
         s.planes() * 2 * static_cast<int64_t>(sizeof(float));
}

// x: [N, C, H, W]; residual: [N, C, H + 2 residual_pad, W + 2 residual_pad] or null;
// out: [N, C, H + 2 pad, W + 2 pad], all of one dtype and layout; workspace as above.
void instance_norm_cpu(const void* x, const void* residual, InstanceNormShape shape, void* out,
                       DType dtype, void* workspace);
void instance_norm_cuda(const void* x, const void* residual, InstanceNormShape shape, void* out,
                        DType dtype, void* workspace, int device, uintptr_t stream);

}  // namespace p2phd
