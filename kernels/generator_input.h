// SPDX-License-Identifier: Apache-2.0
// The generator's input in one pass: one-hot of the labels (label_nc channels), then the
// instance-boundary channel (when instances are given), then K feature channels (copied).
#pragma once

#include <cstdint>

#include "kernels/common.h"
#include "kernels/instance_edges.h"
#include "kernels/one_hot.h"

namespace p2phd {

// Writes every channel of pixel (y, x) of image b. `instances` may be null (no edge channel),
// `features` may be null (feature_channels == 0); both point at the start of the batch.
template <typename Label, typename Id, typename T>
P2PHD_HD void generator_input_pixel(const Label* labels, const Id* instances, const T* features,
                                    int64_t feature_channels, ImageShape shape, int64_t label_nc,
                                    int64_t b, int64_t y, int64_t x, T* out, int64_t* status) {
  const int64_t plane = shape.pixels();
  const int64_t p = y * shape.w + x;
  const int64_t channels = label_nc + (instances ? 1 : 0) + feature_channels;
  T* pixel_out = out + b * channels * plane + p;
  one_hot_pixel(one_hot_class(labels[b * plane + p], label_nc, status), label_nc, pixel_out, plane);
  int64_t c = label_nc;
  if (instances) {
    const bool edge = instance_edge_at(instances + b * plane, shape.h, shape.w, y, x);
    pixel_out[c * plane] = from_float<T>(edge ? 1.0f : 0.0f);
    ++c;
  }
  for (int64_t k = 0; k < feature_channels; ++k, ++c) {
    pixel_out[c * plane] = features[(b * feature_channels + k) * plane + p];
  }
}

// labels: [N, H, W]; instances: [N, H, W] or null; features: [N, K, H, W] of the output's
// dtype or null; out: [N, label_nc + (instances ? 1 : 0) + K, H, W]; status: [2] int64.
void generator_input_cpu(const void* labels, DType label_dtype, const void* instances,
                         DType instance_dtype, const void* features, int64_t feature_channels,
                         ImageShape shape, int64_t label_nc, void* out, DType out_dtype,
                         int64_t* status);
void generator_input_cuda(const void* labels, DType label_dtype, const void* instances,
                          DType instance_dtype, const void* features, int64_t feature_channels,
                          ImageShape shape, int64_t label_nc, void* out, DType out_dtype,
                          int64_t* status, int device, uintptr_t stream);

}  // namespace p2phd
