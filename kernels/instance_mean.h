// SPDX-License-Identifier: Apache-2.0
// Instance-wise average pooling (the feature encoder's last step): every pixel's K features
// become the mean, over the pixels of its instance in the same image, of those features.
//
// Three passes over the pixels, identical on CPU and GPU:
//   1. insert each pixel's id into its image's hash table; the inserting pixel takes the
//      next dense index for the id and zeroes that index's count and sums;
//   2. add each pixel's features (in double) and 1 to its id's sums and count;
//   3. write sums / count back to every pixel.
// Instance ids must lie in [0, 2^31 - 1]; others are reported as kInstanceIdOutOfRange.
#pragma once

#include <cstdint>

#include "kernels/common.h"
#include "kernels/instance_table.h"

namespace p2phd {

// Views into the caller's workspace (see instance_mean_workspace_bytes); all per image.
struct InstanceMeanWorkspace {
  int32_t* keys;     // [N, capacity], kEmptySlot when free
  int32_t* dense;    // [N, capacity], dense index of the id in that slot
  int32_t* next;     // [N], number of distinct ids seen so far
  int32_t* counts;   // [N, H * W]
  double* sums;      // [N, H * W, K]
  int64_t capacity;  // hash slots per image
};

// Lays the workspace out over `bytes`; keys and next still need initialising (-1 and 0).
inline InstanceMeanWorkspace instance_mean_workspace(void* bytes, ImageShape shape,
                                                     int64_t channels, int64_t* size = nullptr) {
  WorkspaceLayout layout(bytes);
  InstanceMeanWorkspace workspace{};
  workspace.capacity = instance_table_capacity(shape.pixels());
  workspace.keys = layout.take<int32_t>(shape.n * workspace.capacity);
  workspace.dense = layout.take<int32_t>(shape.n * workspace.capacity);
  workspace.next = layout.take<int32_t>(shape.n);
  workspace.counts = layout.take<int32_t>(shape.total());
  workspace.sums = layout.take<double>(shape.total() * channels);
  if (size) {
    *size = layout.offset();
  }
  return workspace;
}

inline int64_t instance_mean_workspace_bytes(ImageShape shape, int64_t channels) {
  int64_t size = 0;
  instance_mean_workspace(nullptr, shape, channels, &size);
  return size;
}

// Pass 1 for pixel `index` of the batch (b * H * W + p).
template <typename Atomics, typename Id>
P2PHD_HD void instance_mean_insert_pixel(const Id* instances, const InstanceMeanWorkspace& ws,
                                         ImageShape shape, int64_t channels, int64_t index,
                                         int64_t* status) {
  const Id id = instances[index];
  if (!instance_id_valid(id, status, kInstanceIdOutOfRange)) {
    return;
  }
  const int64_t b = index / shape.pixels();
  const InsertResult result = instance_table_insert<Atomics>(ws.keys + b * ws.capacity, ws.capacity,
                                                             static_cast<int32_t>(id));
  if (result.inserted) {
    const int64_t dense = Atomics::fetch_add(&ws.next[b], 1);
    ws.dense[b * ws.capacity + result.slot] = static_cast<int32_t>(dense);
    const int64_t group = b * shape.pixels() + dense;
    ws.counts[group] = 0;
    for (int64_t k = 0; k < channels; ++k) {
      ws.sums[group * channels + k] = 0.0;
    }
  }
}

// Passes 2 and 3: the row of counts/sums that pixel `index` belongs to, or -1 for an
// invalid id (already reported in pass 1).
template <typename Id>
P2PHD_HD int64_t instance_mean_group(const Id* instances, const InstanceMeanWorkspace& ws,
                                     ImageShape shape, int64_t index) {
  const int64_t id = static_cast<int64_t>(instances[index]);
  if (id < 0 || id > kMaxInstanceId) {
    return -1;
  }
  const int64_t b = index / shape.pixels();
  const int64_t slot =
      instance_table_find(ws.keys + b * ws.capacity, ws.capacity, static_cast<int32_t>(id));
  return b * shape.pixels() + ws.dense[b * ws.capacity + slot];
}

// Pass 3 for pixel `index`: out = sums / count, zeros for an invalid id.
template <typename Id, typename T>
P2PHD_HD void instance_mean_write_pixel(const Id* instances, const InstanceMeanWorkspace& ws,
                                        ImageShape shape, int64_t channels, int64_t index, T* out) {
  const int64_t group = instance_mean_group(instances, ws, shape, index);
  const PixelIndex at = pixel_index(shape, index);
  for (int64_t k = 0; k < channels; ++k) {
    const double mean = group < 0 ? 0.0 : ws.sums[group * channels + k] / ws.counts[group];
    out[(at.b * channels + k) * shape.pixels() + at.p] = from_float<T>(static_cast<float>(mean));
  }
}

// features, out: [N, K, H, W] (same float dtype); instances: [N, H, W]; status: [2] int64.
void instance_mean_cpu(const void* features, DType feature_dtype, const void* instances,
                       DType instance_dtype, ImageShape shape, int64_t channels, void* out,
                       void* workspace, int64_t* status);
void instance_mean_cuda(const void* features, DType feature_dtype, const void* instances,
                        DType instance_dtype, ImageShape shape, int64_t channels, void* out,
                        void* workspace, int64_t* status, int device, uintptr_t stream);

}  // namespace p2phd
