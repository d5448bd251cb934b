// SPDX-License-Identifier: Apache-2.0
#include <vector>

#include "csrc/cpu_parallel.h"
#include "kernels/dispatch.h"
#include "kernels/instance_norm.h"

namespace p2phd {

namespace {

// The partial of one chunk of every channel of image n: its mean, then the sums of the
// deviations from that mean. Each channel's pixels are added in order in either layout, so
// NCHW and NHWC inputs give the same partials. (image, chunk) pairs are independent.
template <typename T>
void norm_chunk_partials(const T* x, InstanceNormShape s, int64_t n, int64_t chunk,
                         NormPartial* partials) {
  using Acc = typename NormAcc<T>::type;
  const TensorLayout layout = s.input();
  const int64_t begin = s.chunk_begin(chunk);
  const int64_t end = s.chunk_end(chunk);
  const Acc count = static_cast<Acc>(end - begin);
  std::vector<Acc> centre(s.c, Acc(0));
  std::vector<Acc> sum_d(s.c, Acc(0));
  std::vector<Acc> sum_d2(s.c, Acc(0));
  if (s.channels_last) {
    for (int64_t p = begin; p < end; ++p) {
      const T* pixel = x + layout.offset(n, 0, p / s.w, p % s.w);
      for (int64_t c = 0; c < s.c; ++c) {
        centre[c] += static_cast<Acc>(to_float(pixel[c]));
      }
    }
    for (int64_t c = 0; c < s.c; ++c) {
      centre[c] /= count;
    }
    for (int64_t p = begin; p < end; ++p) {
      const T* pixel = x + layout.offset(n, 0, p / s.w, p % s.w);
      for (int64_t c = 0; c < s.c; ++c) {
        const Acc d = static_cast<Acc>(to_float(pixel[c])) - centre[c];
        sum_d[c] += d;
        sum_d2[c] += d * d;
      }
    }
  } else {
    for (int64_t c = 0; c < s.c; ++c) {
      const T* plane = x + layout.offset(n, c, 0, 0);
      for (int64_t p = begin; p < end; ++p) {
        centre[c] += static_cast<Acc>(to_float(plane[p]));
      }
      centre[c] /= count;
      for (int64_t p = begin; p < end; ++p) {
        const Acc d = static_cast<Acc>(to_float(plane[p])) - centre[c];
        sum_d[c] += d;
        sum_d2[c] += d * d;
      }
    }
  }
  for (int64_t c = 0; c < s.c; ++c) {
    partials[norm_partial_index(s, n, c, chunk)] =
        norm_partial(static_cast<double>(count), centre[c], sum_d[c], sum_d2[c]);
  }
}

}  // namespace

void instance_norm_cpu(const void* x, const void* residual, InstanceNormShape shape, void* out,
                       DType dtype, void* workspace) {
  dispatch_float_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto* input = static_cast<const T*>(x);
    auto* partials = static_cast<NormPartial*>(workspace);
    auto* statistics = reinterpret_cast<double*>(partials + shape.planes() * shape.chunks());
    for (int64_t task = 0; task < shape.n * shape.chunks(); ++task) {
      norm_chunk_partials(input, shape, task / shape.chunks(), task % shape.chunks(), partials);
    }
    for (int64_t plane = 0; plane < shape.planes(); ++plane) {
      norm_statistics(partials + plane * shape.chunks(), shape.chunks(), shape.eps,
                      statistics + 2 * plane);
    }
    auto* output = static_cast<T*>(out);
    const TensorLayout out_layout = shape.output();
    const int64_t total = shape.planes() * out_layout.h * out_layout.w;
    parallel_for(total, 1 << 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        int64_t n, c, oy, ox;
        out_layout.coordinates(i, &n, &c, &oy, &ox);
        output[i] = instance_norm_value(input, static_cast<const T*>(residual),
                                        statistics + 2 * (n * shape.c + c), shape, n, c, oy, ox);
      }
    });
  });
}

}  // namespace p2phd
