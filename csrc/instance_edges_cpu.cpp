// SPDX-License-Identifier: Apache-2.0
#include "csrc/cpu_parallel.h"
#include "kernels/dispatch.h"
#include "kernels/instance_edges.h"

namespace p2phd {

void instance_edges_cpu(const void* instances, DType instance_dtype, ImageShape shape, void* out,
                        DType out_dtype) {
  dispatch_instance_type(instance_dtype, [&](auto id_tag) {
    using Id = decltype(id_tag);
    dispatch_float_type(out_dtype, [&](auto out_tag) {
      using T = decltype(out_tag);
      const auto* ids = static_cast<const Id*>(instances);
      auto* out_data = static_cast<T*>(out);
      const T one = from_float<T>(1.0f);
      const T zero = from_float<T>(0.0f);
      // Rows of the batch (b * H + y) split across threads.
      parallel_for(shape.n * shape.h, 1 + (1 << 16) / shape.w, [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row) {
          const int64_t b = row / shape.h;
          const int64_t y = row - b * shape.h;
          const Id* image = ids + b * shape.pixels();
          T* row_out = out_data + b * shape.pixels() + y * shape.w;
          for (int64_t x = 0; x < shape.w; ++x) {
            row_out[x] = instance_edge_at(image, shape.h, shape.w, y, x) ? one : zero;
          }
        }
      });
    });
  });
}

}  // namespace p2phd
