// SPDX-License-Identifier: Apache-2.0
#include "kernels/cuda_utils.cuh"
#include "kernels/dispatch.h"
#include "kernels/instance_broadcast.h"

namespace p2phd {

namespace {

template <typename Id>
__global__ void insert_ids_kernel(const Id* ids, int64_t num_ids, InstanceBroadcastWorkspace ws,
                                  int64_t* status) {
  const int64_t j = global_thread_index();
  if (j < num_ids) {
    instance_broadcast_insert_id<DeviceAtomics>(ids, j, ws, status);
  }
}

template <typename Id, typename T>
__global__ void broadcast_kernel(const Id* instances, InstanceBroadcastWorkspace ws,
                                 ImageShape shape, const T* table, int64_t channels, T* out,
                                 int64_t* status) {
  const int64_t i = global_thread_index();
  if (i < shape.total()) {
    instance_broadcast_pixel(instances, ws, shape, table, channels, i, out, status);
  }
}

}  // namespace

void instance_broadcast_cuda(const void* instances, DType instance_dtype, ImageShape shape,
                             const void* ids, DType id_dtype, int64_t num_ids, const void* table,
                             DType table_dtype, int64_t channels, void* out, void* workspace,
                             int64_t* status, int device, uintptr_t stream) {
  DeviceGuard guard(device);
  const cudaStream_t cuda_stream = as_stream(stream);
  const InstanceBroadcastWorkspace ws = instance_broadcast_workspace(workspace, num_ids);
  check_cuda(cudaMemsetAsync(ws.keys, 0xff, ws.capacity * sizeof(int32_t), cuda_stream),
             "instance_broadcast workspace reset");
  if (num_ids > 0) {
    dispatch_instance_type(id_dtype, [&](auto id_tag) {
      using Id = decltype(id_tag);
      insert_ids_kernel<<<blocks_for(num_ids), kThreadsPerBlock, 0, cuda_stream>>>(
          static_cast<const Id*>(ids), num_ids, ws, status);
    });
    check_cuda(cudaGetLastError(), "instance_broadcast id launch");
  }
  dispatch_float_type(table_dtype, [&](auto table_tag) {
    using T = decltype(table_tag);
    dispatch_instance_type(instance_dtype, [&](auto instance_tag) {
      using Id = decltype(instance_tag);
      broadcast_kernel<<<blocks_for(shape.total()), kThreadsPerBlock, 0, cuda_stream>>>(
          static_cast<const Id*>(instances), ws, shape, static_cast<const T*>(table), channels,
          static_cast<T*>(out), status);
    });
  });
  check_cuda(cudaGetLastError(), "instance_broadcast launch");
}

}  // namespace p2phd
