// SPDX-License-Identifier: Apache-2.0
#include "kernels/cuda_utils.cuh"
#include "kernels/dispatch.h"
#include "kernels/one_hot.h"

namespace p2phd {

namespace {

template <typename Label, typename T>
__global__ void one_hot_kernel(const Label* labels, ImageShape shape, int64_t num_classes, T* out,
                               int64_t* status) {
  const int64_t i = global_thread_index();
  if (i >= shape.total()) {
    return;
  }
  const PixelIndex at = pixel_index(shape, i);
  one_hot_pixel(one_hot_class(labels[i], num_classes, status), num_classes,
                out + at.b * num_classes * shape.pixels() + at.p, shape.pixels());
}

}  // namespace

void one_hot_cuda(const void* labels, DType label_dtype, ImageShape shape, int64_t num_classes,
                  void* out, DType out_dtype, int64_t* status, int device, uintptr_t stream) {
  DeviceGuard guard(device);
  dispatch_label_type(label_dtype, [&](auto label_tag) {
    using Label = decltype(label_tag);
    dispatch_float_type(out_dtype, [&](auto out_tag) {
      using T = decltype(out_tag);
      one_hot_kernel<<<blocks_for(shape.total()), kThreadsPerBlock, 0, as_stream(stream)>>>(
          static_cast<const Label*>(labels), shape, num_classes, static_cast<T*>(out), status);
    });
  });
  check_cuda(cudaGetLastError(), "one_hot launch");
}

}  // namespace p2phd
