// SPDX-License-Identifier: Apache-2.0
#include "kernels/dispatch.h"
#include "kernels/output_conv.h"

namespace p2phd {

void output_conv_cpu(const void* x, DType dtype, const float* weight, const float* bias,
                     OutputConvShape shape, uint8_t* out) {
  dispatch_float_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    for (int64_t b = 0; b < shape.image.n; ++b) {
      for (int64_t y = 0; y < shape.image.h; ++y) {
        for (int64_t px = 0; px < shape.image.w; px += kOutputConvRun) {
          output_conv_run(
              static_cast<const T*>(x), weight, bias, shape, b, y, px,
              out + ((b * shape.image.h + y) * shape.image.w + px) * shape.out_channels);
        }
      }
    }
  });
}

}  // namespace p2phd
