// SPDX-License-Identifier: Apache-2.0
#include "kernels/dispatch.h"
#include "kernels/instance_norm.h"

namespace p2phd {

void instance_norm_cpu(const void* x, const void* residual, InstanceNormShape shape, void* out,
                       DType dtype, void* workspace) {
  dispatch_float_type(dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto* input = static_cast<const T*>(x);
    auto* partials = static_cast<NormPartial*>(workspace);
    auto* statistics = reinterpret_cast<float*>(partials + shape.planes * shape.chunks());
    const int64_t pixels = shape.pixels();
    for (int64_t plane = 0; plane < shape.planes; ++plane) {
      const T* values = input + plane * pixels;
      const float shift = to_float(values[0]);
      NormPartial* plane_partials = partials + plane * shape.chunks();
      for (int64_t chunk = 0; chunk < shape.chunks(); ++chunk) {
        const int64_t end = (chunk + 1) * kNormChunk < pixels ? (chunk + 1) * kNormChunk : pixels;
        NormPartial partial{0.0f, 0.0f};
        for (int64_t i = chunk * kNormChunk; i < end; ++i) {
          const float centred = to_float(values[i]) - shift;
          partial.sum += centred;
          partial.sum_squares += centred * centred;
        }
        plane_partials[chunk] = partial;
      }
      norm_statistics(plane_partials, shape.chunks(), shift, pixels, shape.eps,
                      statistics + 2 * plane);
    }
    auto* output = static_cast<T*>(out);
    const int64_t out_plane = shape.out_h() * shape.out_w();
    for (int64_t plane = 0; plane < shape.planes; ++plane) {
      for (int64_t oy = 0; oy < shape.out_h(); ++oy) {
        for (int64_t ox = 0; ox < shape.out_w(); ++ox) {
          output[plane * out_plane + oy * shape.out_w() + ox] = instance_norm_value(
              input, static_cast<const T*>(residual), statistics + 2 * plane, shape, plane, oy, ox);
        }
      }
    }
  });
}

}  // namespace p2phd
