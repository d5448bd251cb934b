// SPDX-License-Identifier: Apache-2.0
// One-hot encoding of a label map: channel c of a pixel is 1 where its label == c, else 0.
// A label outside [0, num_classes) is reported as kLabelOutOfRange, never silently zeroed.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/common.h"

namespace p2phd {

// The class of one pixel, or -1 (and kLabelOutOfRange reported) when its label is outside
// [0, num_classes).
template <typename Label>
P2PHD_HD int64_t one_hot_class(Label label, int64_t num_classes, int64_t* status) {
  const int64_t value = static_cast<int64_t>(label);
  if (value < 0 || value >= num_classes) {
    report_error(status, kLabelOutOfRange, value);
    return -1;
  }
  return value;
}

// Writes the num_classes channels of one pixel of class `label_class`; `out` points at
// channel 0 of that pixel and consecutive channels are `plane` elements apart.
template <typename T>
P2PHD_HD void one_hot_pixel(int64_t label_class, int64_t num_classes, T* out, int64_t plane) {
  const T one = from_float<T>(1.0f);
  const T zero = from_float<T>(0.0f);
  for (int64_t c = 0; c < num_classes; ++c) {
    out[c * plane] = c == label_class ? one : zero;
  }
}

// The CPU writes one channel row at a time: writing a pixel's channels one plane apart
// would touch num_classes cache lines per pixel, which alias in the cache when the plane
// size is a power of two. Rows are written as raw bits so that the loop vectorizes.
template <typename T>
inline void one_hot_row(const int32_t* row_classes, int64_t w, int64_t num_classes, T* out,
                        int64_t plane) {
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint16_t>;
  const T one_value = from_float<T>(1.0f);
  Bits one;
  std::memcpy(&one, &one_value, sizeof one);
  for (int64_t c = 0; c < num_classes; ++c) {
    Bits* channel_row = reinterpret_cast<Bits*>(out + c * plane);
    const int32_t channel = static_cast<int32_t>(c);  // an int64 compare would not vectorize
    for (int64_t x = 0; x < w; ++x) {
      channel_row[x] = row_classes[x] == channel ? one : Bits{0};
    }
  }
}

// labels: [N, H, W]; out: [N, num_classes, H, W]; status: [2] int64.
void one_hot_cpu(const void* labels, DType label_dtype, ImageShape shape, int64_t num_classes,
                 void* out, DType out_dtype, int64_t* status);
void one_hot_cuda(const void* labels, DType label_dtype, ImageShape shape, int64_t num_classes,
                  void* out, DType out_dtype, int64_t* status, int device, uintptr_t stream);

}  // namespace p2phd
