// SPDX-License-Identifier: Apache-2.0
#include "csrc/cpu_parallel.h"
#include "kernels/dispatch.h"
#include "kernels/label_conv.h"

namespace p2phd {

void label_conv_cpu(const void* labels, DType label_dtype, const void* edges, const void* features,
                    const float* weight, const float* bias, LabelConvShape shape, void* out,
                    DType out_dtype, int64_t* status) {
  dispatch_label_type(label_dtype, [&](auto label_tag) {
    dispatch_float_type(out_dtype, [&](auto float_tag) {
      using Label = decltype(label_tag);
      using T = decltype(float_tag);
      // Rows of the batch (b * H + y) split across threads; each row does every chunk of
      // output channels.
      const ImageShape image = shape.image;
      parallel_for(image.n * image.h, 1, [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row) {
          const int64_t b = row / image.h;
          const int64_t y = row - b * image.h;
          for (int64_t first = 0; first < shape.out_channels; first += kLabelConvChunk) {
            for (int64_t x = 0; x < image.w; ++x) {
              label_conv_pixel(static_cast<const Label*>(labels), static_cast<const T*>(edges),
                               static_cast<const T*>(features), weight, bias, shape, b, y, x, first,
                               static_cast<T*>(out), status);
            }
          }
        }
      });
    });
  });
}

}  // namespace p2phd
