// SPDX-License-Identifier: Apache-2.0
#include "kernels/dispatch.h"
#include "kernels/to_uint8_image.h"

namespace p2phd {

namespace {

template <Rounding R, typename T>
void convert(const T* data, ImageShape shape, int64_t channels, uint8_t* out) {
  const int64_t plane = shape.pixels();
  for (int64_t b = 0; b < shape.n; ++b) {
    for (int64_t p = 0; p < plane; ++p) {
      to_uint8_pixel<R>(data + b * channels * plane + p, plane, channels,
                        out + (b * plane + p) * channels);
    }
  }
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
