// SPDX-License-Identifier: Apache-2.0
#include "kernels/cuda_utils.cuh"
#include "kernels/dispatch.h"
#include "kernels/instance_edges.h"

namespace p2phd {

namespace {

template <typename Id, typename T>
__global__ void instance_edges_kernel(const Id* instances, ImageShape shape, T* out) {
  const int64_t i = global_thread_index();
  if (i >= shape.total()) {
    return;
  }
  const PixelIndex at = pixel_index(shape, i);
  const bool edge =
      instance_edge_at(instances + at.b * shape.pixels(), shape.h, shape.w, at.y, at.x);
  out[i] = from_float<T>(edge ? 1.0f : 0.0f);
}

}  // namespace

void instance_edges_cuda(const void* instances, DType instance_dtype, ImageShape shape, void* out,
                         DType out_dtype, int device, uintptr_t stream) {
  DeviceGuard guard(device);
  dispatch_instance_type(instance_dtype, [&](auto id_tag) {
    using Id = decltype(id_tag);
    dispatch_float_type(out_dtype, [&](auto out_tag) {
      using T = decltype(out_tag);
      instance_edges_kernel<<<blocks_for(shape.total()), kThreadsPerBlock, 0, as_stream(stream)>>>(
          static_cast<const Id*>(instances), shape, static_cast<T*>(out));
    });
  });
  check_cuda(cudaGetLastError(), "instance_edges launch");
}

}  // namespace p2phd
