// SPDX-License-Identifier: Apache-2.0
#include "csrc/cpu_parallel.h"
#include "kernels/dispatch.h"
#include "kernels/to_uint8_image.h"

namespace p2phd {

namespace {

template <Rounding R, typename T>
void convert(const T* data, ImageShape shape, int64_t channels, uint8_t* out) {
  const int64_t plane = shape.pixels();
  parallel_for(shape.total(), 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / plane;
      const int64_t p = i - b * plane;
      to_uint8_pixel<R>(data + b * channels * plane + p, plane, channels,
                        out + (b * plane + p) * channels);
    }
  });
}

}  // namespace

void to_uint8_image_cpu(const void* y, DType dtype, ImageShape shape, int64_t channels,
                        Rounding rounding, uint8_t* out) {
  dispatch_float_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto* data = static_cast<const T*>(y);
    if (rounding == Rounding::kNearest) {
      convert<Rounding::kNearest>(data, shape, channels, out);
    } else {
      convert<Rounding::kTruncated>(data, shape, channels, out);
    }
  });
}

}  // namespace p2phd
