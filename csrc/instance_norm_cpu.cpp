// SPDX-License-Identifier: Apache-2.0
#include <vector>

#include "csrc/cpu_parallel.h"
#include "kernels/dispatch.h"
#include "kernels/instance_norm.h"

namespace p2phd {

namespace {

// Partial sums of every channel of image n, chunk by chunk. Each channel adds its pixels in
// order in either layout, so NCHW and NHWC inputs give the same sums.
template <typename T>
void norm_partials(const T* x, InstanceNormShape s, int64_t n, NormPartial* partials) {
  const TensorLayout layout = s.input();
  std::vector<float> shifts(s.c);
  for (int64_t c = 0; c < s.c; ++c) {
    shifts[c] = to_float(x[layout.offset(n, c, 0, 0)]);
  }
  std::vector<NormPartial> sums(s.c);
  for (int64_t chunk = 0; chunk < s.chunks(); ++chunk) {
    const int64_t begin = chunk * kNormChunk;
    const int64_t end = begin + kNormChunk < s.pixels() ? begin + kNormChunk : s.pixels();
    sums.assign(s.c, NormPartial{0.0f, 0.0f});
    if (s.channels_last) {
      for (int64_t p = begin; p < end; ++p) {
        const T* pixel = x + layout.offset(n, 0, p / s.w, p % s.w);
        for (int64_t c = 0; c < s.c; ++c) {
          const float centred = to_float(pixel[c]) - shifts[c];
          sums[c].sum += centred;
          sums[c].sum_squares += centred * centred;
        }
      }
    } else {
      for (int64_t c = 0; c < s.c; ++c) {
        const T* plane = x + layout.offset(n, c, 0, 0);
        for (int64_t p = begin; p < end; ++p) {
          const float centred = to_float(plane[p]) - shifts[c];
          sums[c].sum += centred;
          sums[c].sum_squares += centred * centred;
        }
      }
    }
    for (int64_t c = 0; c < s.c; ++c) {
      partials[norm_partial_index(s, n, c, chunk)] = sums[c];
    }
  }
}

}  // namespace

void instance_norm_cpu(const void* x, const void* residual, InstanceNormShape shape, void* out,
                       DType dtype, void* workspace) {
  dispatch_float_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto* input = static_cast<const T*>(x);
    auto* partials = static_cast<NormPartial*>(workspace);
    auto* statistics = reinterpret_cast<float*>(partials + shape.planes() * shape.chunks());
    const TensorLayout layout = shape.input();
    for (int64_t n = 0; n < shape.n; ++n) {
      norm_partials(input, shape, n, partials);
      for (int64_t c = 0; c < shape.c; ++c) {
        norm_statistics(partials + norm_partial_index(shape, n, c, 0), shape.chunks(),
                        to_float(input[layout.offset(n, c, 0, 0)]), shape.pixels(), shape.eps,
                        statistics + 2 * (n * shape.c + c));
      }
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
