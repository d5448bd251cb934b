// SPDX-License-Identifier: Apache-2.0
#include "csrc/cpu_parallel.h"
#include "kernels/dispatch.h"
#include "kernels/output_conv.h"

namespace p2phd {

void output_conv_cpu(const void* x, DType dtype, const float* weight, const float* bias,
                     OutputConvShape shape, uint8_t* out) {
  dispatch_float_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    // Rows of the batch (b * H + y) split across threads.
    parallel_for(shape.image.n * shape.image.h, 1, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t b = row / shape.image.h;
        const int64_t y = row - b * shape.image.h;
        for (int64_t px = 0; px < shape.image.w; px += kOutputConvRun) {
          output_conv_run(
              static_cast<const T*>(x), weight, bias, shape, b, y, px,
              out + ((b * shape.image.h + y) * shape.image.w + px) * shape.out_channels);
        }
      }
    });
  });
}

}  // namespace p2phd
