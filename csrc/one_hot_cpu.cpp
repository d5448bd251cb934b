// SPDX-License-Identifier: Apache-2.0
#include <vector>

#include "csrc/cpu_parallel.h"
#include "kernels/dispatch.h"
#include "kernels/one_hot.h"

namespace p2phd {

void one_hot_cpu(const void* labels, DType label_dtype, ImageShape shape, int64_t num_classes,
                 void* out, DType out_dtype, int64_t* status) {
  dispatch_label_type(label_dtype, [&](auto label_tag) {
    using Label = decltype(label_tag);
    dispatch_float_type(out_dtype, [&](auto out_tag) {
      using T = decltype(out_tag);
      const auto* label_data = static_cast<const Label*>(labels);
      auto* out_data = static_cast<T*>(out);
      const int64_t plane = shape.pixels();
      // Rows of the batch (b * H + y) split across threads; a row writes num_classes * W values.
      const int64_t grain = 1 + (1 << 16) / (num_classes * shape.w);
      parallel_for(shape.n * shape.h, grain, [&](int64_t begin, int64_t end) {
        std::vector<int32_t> row_classes(shape.w);
        for (int64_t row_index = begin; row_index < end; ++row_index) {
          const int64_t b = row_index / shape.h;
          const int64_t y = row_index - b * shape.h;
          const Label* row = label_data + b * plane + y * shape.w;
          for (int64_t x = 0; x < shape.w; ++x) {
            row_classes[x] = static_cast<int32_t>(one_hot_class(row[x], num_classes, status));
          }
          one_hot_row(row_classes.data(), shape.w, num_classes,
                      out_data + b * num_classes * plane + y * shape.w, plane);
        }
      });
    });
  });
}

}  // namespace p2phd
