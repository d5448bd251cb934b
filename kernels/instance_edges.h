// SPDX-License-Identifier: Apache-2.0
// Instance-boundary map: a pixel is 1 where a 4-neighbour inside the image has another id.
// Both sides of a boundary are marked; the image border is not a boundary.
#pragma once

#include <cstdint>

#include "kernels/common.h"

namespace p2phd {

// `ids` points at the first pixel of one H x W image.
template <typename Id>
P2PHD_HD bool instance_edge_at(const Id* ids, int64_t h, int64_t w, int64_t y, int64_t x) {
  const int64_t p = y * w + x;
  const Id centre = ids[p];
  return (x > 0 && ids[p - 1] != centre) || (x + 1 < w && ids[p + 1] != centre) ||
         (y > 0 && ids[p - w] != centre) || (y + 1 < h && ids[p + w] != centre);
}

// instances: [N, H, W]; out: [N, 1, H, W].
void instance_edges_cpu(const void* instances, DType instance_dtype, ImageShape shape, void* out,
                        DType out_dtype);
void instance_edges_cuda(const void* instances, DType instance_dtype, ImageShape shape, void* out,
                         DType out_dtype, int device, uintptr_t stream);

}  // namespace p2phd
