// SPDX-License-Identifier: Apache-2.0
// Instance-wise feature broadcast (inference): the pixels of instance ids[j] get the vector
// table[j]; pixels whose id is not listed get zeros.
//
// Two passes: the M ids go into a hash table mapping id -> j (a repeated id is reported as
// kDuplicateId, an id outside [0, 2^31 - 1] as kTableIdOutOfRange), then every pixel looks
// its id up and copies its row of the table.
#pragma once

#include <cstdint>

#include "kernels/common.h"
#include "kernels/instance_table.h"

namespace p2phd {

struct InstanceBroadcastWorkspace {
  int32_t* keys;  // [capacity], kEmptySlot when free
  int32_t* rows;  // [capacity], row of the table for the id in that slot
  int64_t capacity;
};

// Lays the workspace out over `bytes`; keys still need initialising to kEmptySlot.
inline InstanceBroadcastWorkspace instance_broadcast_workspace(void* bytes, int64_t ids,
                                                               int64_t* size = nullptr) {
  WorkspaceLayout layout(bytes);
  InstanceBroadcastWorkspace workspace{};
  workspace.capacity = instance_table_capacity(ids);
  workspace.keys = layout.take<int32_t>(workspace.capacity);
  workspace.rows = layout.take<int32_t>(workspace.capacity);
  if (size) {
    *size = layout.offset();
  }
  return workspace;
}

inline int64_t instance_broadcast_workspace_bytes(int64_t ids) {
  int64_t size = 0;
  instance_broadcast_workspace(nullptr, ids, &size);
  return size;
}

// Pass 1 for entry j of the id list.
template <typename Atomics, typename Id>
P2PHD_HD void instance_broadcast_insert_id(const Id* ids, int64_t j,
                                           const InstanceBroadcastWorkspace& ws, int64_t* status) {
  const Id id = ids[j];
  if (!instance_id_valid(id, status, kTableIdOutOfRange)) {
    return;
  }
  const InsertResult result =
      instance_table_insert<Atomics>(ws.keys, ws.capacity, static_cast<int32_t>(id));
  if (!result.inserted) {
    report_error(status, kDuplicateId, static_cast<int64_t>(id));
    return;
  }
  ws.rows[result.slot] = static_cast<int32_t>(j);
}

// Pass 2, the lookup: the row of the table for pixel `index`'s id, -1 where the id is not
// listed (or not valid, which is reported).
template <typename Id>
P2PHD_HD int64_t instance_broadcast_row(const Id* instances, const InstanceBroadcastWorkspace& ws,
                                        int64_t index, int64_t* status) {
  const Id id = instances[index];
  if (!instance_id_valid(id, status, kInstanceIdOutOfRange)) {
    return -1;
  }
  const int64_t slot = instance_table_find(ws.keys, ws.capacity, static_cast<int32_t>(id));
  return slot < 0 ? -1 : ws.rows[slot];
}

// Pass 2, the copy: row `row` of the table (zeros for -1) to pixel `index` of the output.
template <typename T>
P2PHD_HD void instance_broadcast_write(int64_t row, ImageShape shape, const T* table,
                                       int64_t channels, int64_t index, T* out) {
  const PixelIndex at = pixel_index(shape, index);
  const T zero = from_float<T>(0.0f);
  for (int64_t k = 0; k < channels; ++k) {
    out[(at.b * channels + k) * shape.pixels() + at.p] = row < 0 ? zero : table[row * channels + k];
  }
}

// Pass 2 for pixel `index` of the batch (b * H * W + p).
template <typename Id, typename T>
P2PHD_HD void instance_broadcast_pixel(const Id* instances, const InstanceBroadcastWorkspace& ws,
                                       ImageShape shape, const T* table, int64_t channels,
                                       int64_t index, T* out, int64_t* status) {
  const int64_t row = instance_broadcast_row(instances, ws, index, status);
  instance_broadcast_write(row, shape, table, channels, index, out);
}

// instances: [N, H, W]; ids: [M] (an instance dtype); table: [M, K]; out: [N, K, H, W] of
// the table's dtype; status: [2] int64.
void instance_broadcast_cpu(const void* instances, DType instance_dtype, ImageShape shape,
                            const void* ids, DType id_dtype, int64_t num_ids, const void* table,
                            DType table_dtype, int64_t channels, void* out, void* workspace,
                            int64_t* status);
void instance_broadcast_cuda(const void* instances, DType instance_dtype, ImageShape shape,
                             const void* ids, DType id_dtype, int64_t num_ids, const void* table,
                             DType table_dtype, int64_t channels, void* out, void* workspace,
                             int64_t* status, int device, uintptr_t stream);

}  // namespace p2phd
