// SPDX-License-Identifier: Apache-2.0
#include <algorithm>

#include "csrc/cpu_parallel.h"
#include "kernels/dispatch.h"
#include "kernels/instance_broadcast.h"

namespace p2phd {

void instance_broadcast_cpu(const void* instances, DType instance_dtype, ImageShape shape,
                            const void* ids, DType id_dtype, int64_t num_ids, const void* table,
                            DType table_dtype, int64_t channels, void* out, void* workspace,
                            int64_t* status) {
  const InstanceBroadcastWorkspace ws = instance_broadcast_workspace(workspace, num_ids);
  std::fill(ws.keys, ws.keys + ws.capacity, kEmptySlot);
  dispatch_instance_type(id_dtype, [&](auto id_tag) {
    const auto* id_data = static_cast<const decltype(id_tag)*>(ids);
    for (int64_t j = 0; j < num_ids; ++j) {
      instance_broadcast_insert_id<HostAtomics>(id_data, j, ws, status);
    }
  });
  dispatch_float_type(table_dtype, [&](auto table_tag) {
    using T = decltype(table_tag);
    dispatch_instance_type(instance_dtype, [&](auto instance_tag) {
      const auto* instance_data = static_cast<const decltype(instance_tag)*>(instances);
      // The table is only read from here on: pixels split across threads. Instance maps are
      // runs of one id, so each run (within one image) is looked up once and its pixels of
      // every channel are filled at once.
      const int64_t pixels = shape.pixels();
      const auto* rows = static_cast<const T*>(table);
      auto* out_data = static_cast<T*>(out);
      parallel_for(shape.total(), 1 << 14, [&](int64_t begin, int64_t end) {
        int64_t i = begin;
        while (i < end) {
          const PixelIndex at = pixel_index(shape, i);
          const int64_t image_end = std::min(end, i + (pixels - at.p));
          int64_t run_end = i + 1;
          while (run_end < image_end && instance_data[run_end] == instance_data[i]) {
            ++run_end;
          }
          const int64_t row = instance_broadcast_row(instance_data, ws, i, status);
          for (int64_t k = 0; k < channels; ++k) {
            const T value = row < 0 ? from_float<T>(0.0f) : rows[row * channels + k];
            std::fill_n(out_data + (at.b * channels + k) * pixels + at.p, run_end - i, value);
          }
          i = run_end;
        }
      });
    });
  });
}

}  // namespace p2phd
