// SPDX-License-Identifier: Apache-2.0
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
      for (int64_t b = 0; b < shape.n; ++b) {
        const Id* image = ids + b * shape.pixels();
        T* image_out = out_data + b * shape.pixels();
        for (int64_t y = 0; y < shape.h; ++y) {
          for (int64_t x = 0; x < shape.w; ++x) {
            image_out[y * shape.w + x] =
                instance_edge_at(image, shape.h, shape.w, y, x) ? one : zero;
          }
        }
      }
    });
  });
}

}  // namespace p2phd
