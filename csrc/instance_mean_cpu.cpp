// SPDX-License-Identifier: Apache-2.0
#include <algorithm>

#include "csrc/cpu_parallel.h"
#include "kernels/dispatch.h"
#include "kernels/instance_mean.h"

namespace p2phd {

void instance_mean_cpu(const void* features, DType feature_dtype, const void* instances,
                       DType instance_dtype, ImageShape shape, int64_t channels, void* out,
                       void* workspace, int64_t* status) {
  const InstanceMeanWorkspace ws = instance_mean_workspace(workspace, shape, channels);
  std::fill(ws.keys, ws.keys + shape.n * ws.capacity, kEmptySlot);
  std::fill(ws.next, ws.next + shape.n, 0);
  dispatch_float_type(feature_dtype, [&](auto feature_tag) {
    using T = decltype(feature_tag);
    dispatch_instance_type(instance_dtype, [&](auto id_tag) {
      using Id = decltype(id_tag);
      const auto* ids = static_cast<const Id*>(instances);
      const auto* feature_data = static_cast<const T*>(features);
      const int64_t plane = shape.pixels();
      // Each image has its own table and sums: passes 1 and 2 split the batch across threads
      // by image, pass 3 (reads only) by pixel.
      parallel_for(shape.n, 1, [&](int64_t first_image, int64_t end_image) {
        for (int64_t i = first_image * plane; i < end_image * plane; ++i) {
          instance_mean_insert_pixel<HostAtomics>(ids, ws, shape, channels, i, status);
        }
        for (int64_t i = first_image * plane; i < end_image * plane; ++i) {
          const int64_t group = instance_mean_group(ids, ws, shape, i);
          if (group < 0) {
            continue;
          }
          const PixelIndex at = pixel_index(shape, i);
          ws.counts[group] += 1;
          for (int64_t k = 0; k < channels; ++k) {
            ws.sums[group * channels + k] +=
                to_float(feature_data[(at.b * channels + k) * plane + at.p]);
          }
        }
      });
      parallel_for(shape.total(), 1 << 14, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          instance_mean_write_pixel(ids, ws, shape, channels, i, static_cast<T*>(out));
        }
      });
    });
  });
}

}  // namespace p2phd
