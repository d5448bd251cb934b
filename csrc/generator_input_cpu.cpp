// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <vector>

#include "csrc/cpu_parallel.h"
#include "kernels/dispatch.h"
#include "kernels/generator_input.h"

namespace p2phd {

namespace {

// Row by row, channel by channel (see one_hot_row for why not pixel by pixel).
template <typename Label, typename Id>
void generator_input_loop(const void* labels, const void* instances, const void* features,
                          int64_t feature_channels, ImageShape shape, int64_t label_nc, void* out,
                          DType out_dtype, int64_t* status) {
  dispatch_float_type(out_dtype, [&](auto out_tag) {
    using T = decltype(out_tag);
    const auto* label_data = static_cast<const Label*>(labels);
    const auto* instance_data = static_cast<const Id*>(instances);
    const auto* feature_data = static_cast<const T*>(features);
    auto* out_data = static_cast<T*>(out);
    const int64_t plane = shape.pixels();
    const int64_t channels = label_nc + (instances ? 1 : 0) + feature_channels;
    const T one = from_float<T>(1.0f);
    const T zero = from_float<T>(0.0f);
    // Rows of the batch (b * H + y) split across threads; a row writes channels * W values.
    const int64_t grain = 1 + (1 << 16) / (channels * shape.w);
    parallel_for(shape.n * shape.h, grain, [&](int64_t begin, int64_t end) {
      std::vector<int32_t> row_classes(shape.w);
      for (int64_t row = begin; row < end; ++row) {
        const int64_t b = row / shape.h;
        const int64_t y = row - b * shape.h;
        const int64_t row_start = b * plane + y * shape.w;
        for (int64_t x = 0; x < shape.w; ++x) {
          row_classes[x] =
              static_cast<int32_t>(one_hot_class(label_data[row_start + x], label_nc, status));
        }
        T* pixel_out = out_data + b * channels * plane + y * shape.w;
        one_hot_row(row_classes.data(), shape.w, label_nc, pixel_out, plane);
        int64_t c = label_nc;
        if (instances) {
          T* edge_row = pixel_out + c * plane;
          for (int64_t x = 0; x < shape.w; ++x) {
            const bool edge = instance_edge_at(instance_data + b * plane, shape.h, shape.w, y, x);
            edge_row[x] = edge ? one : zero;
          }
          ++c;
        }
        for (int64_t k = 0; k < feature_channels; ++k, ++c) {
          const T* feature_row = feature_data + (b * feature_channels + k) * plane + y * shape.w;
          std::copy(feature_row, feature_row + shape.w, pixel_out + c * plane);
        }
      }
    });
  });
}

}  // namespace

void generator_input_cpu(const void* labels, DType label_dtype, const void* instances,
                         DType instance_dtype, const void* features, int64_t feature_channels,
                         ImageShape shape, int64_t label_nc, void* out, DType out_dtype,
                         int64_t* status) {
  dispatch_label_type(label_dtype, [&](auto label_tag) {
    using Label = decltype(label_tag);
    if (!instances) {
      // Any instance type will do: the pointer is null and never read.
      generator_input_loop<Label, int32_t>(labels, nullptr, features, feature_channels, shape,
                                           label_nc, out, out_dtype, status);
      return;
    }
    dispatch_instance_type(instance_dtype, [&](auto id_tag) {
      generator_input_loop<Label, decltype(id_tag)>(labels, instances, features, feature_channels,
                                                    shape, label_nc, out, out_dtype, status);
    });
  });
}

}  // namespace p2phd
