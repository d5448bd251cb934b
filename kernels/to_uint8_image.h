// SPDX-License-Identifier: Apache-2.0
// Generator output in [-1, 1] -> uint8 RGB: round(clamp((y + 1) / 2, 0, 1) * 255), half to
// even, NaN -> 0; or, for bit-exact comparison with the public pix2pixHD code, its truncation
// uint8(clip((y + 1) / 2 * 255, 0, 255)). Planar N x 3 x H x W in, interleaved N x H x W x 3
// out.
#pragma once

#include <cstdint>

#include "kernels/common.h"

namespace p2phd {

P2PHD_HD uint8_t to_uint8_value(float y) {
  // Comparisons rather than fmaxf/fminf: they inline everywhere, and NaN > 0 is false, which
  // maps NaN to 0 as the reference does.
  float t = (y + 1.0f) / 2.0f;
  t = t > 0.0f ? t : 0.0f;
  t = t < 1.0f ? t : 1.0f;
  // Adding and removing 1.5 * 2^23 rounds to the nearest integer, ties to even, in the
  // default rounding mode: the same result as rintf without a libm call on the CPU.
  constexpr float kRound = 12582912.0f;
#ifdef __CUDA_ARCH__
  const float scaled = __fmul_rn(t, 255.0f);  // nvcc would fuse a plain t * 255 + kRound
#else
  const float scaled = t * 255.0f;
#endif
  return static_cast<uint8_t>((scaled + kRound) - kRound);
}

// The public code's util.tensor2im in float32: (y + 1) / 2 * 255, clipped to [0, 255], then
// the uint8 cast truncates. NaN -> 0 (its cast leaves NaN undefined).
P2PHD_HD uint8_t to_uint8_truncated(float y) {
#ifdef __CUDA_ARCH__
  // Each step rounded on its own, as numpy does it: no contraction into an FMA.
  float scaled = __fmul_rn(__fdiv_rn(__fadd_rn(y, 1.0f), 2.0f), 255.0f);
#else
  float scaled = (y + 1.0f) / 2.0f * 255.0f;
#endif
  scaled = scaled > 0.0f ? scaled : 0.0f;
  scaled = scaled < 255.0f ? scaled : 255.0f;
  return static_cast<uint8_t>(scaled);
}

enum class Rounding : int32_t {
  kNearest = 0,    // round(clamp((y + 1) / 2, 0, 1) * 255), ties to even
  kTruncated = 1,  // the public pix2pixHD code's uint8(clip((y + 1) / 2 * 255, 0, 255))
};

template <Rounding R, typename T>
P2PHD_HD void to_uint8_pixel(const T* y, int64_t plane, int64_t channels, uint8_t* rgb) {
  for (int64_t c = 0; c < channels; ++c) {
    const float value = to_float(y[c * plane]);
    rgb[c] = R == Rounding::kNearest ? to_uint8_value(value) : to_uint8_truncated(value);
  }
}

// y: [N, C, H, W]; out: [N, H, W, C].
void to_uint8_image_cpu(const void* y, DType dtype, ImageShape shape, int64_t channels,
                        Rounding rounding, uint8_t* out);
void to_uint8_image_cuda(const void* y, DType dtype, ImageShape shape, int64_t channels,
                         Rounding rounding, uint8_t* out, int device, uintptr_t stream);

}  // namespace p2phd
