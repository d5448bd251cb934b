// SPDX-License-Identifier: Apache-2.0
// The generator's first convolution, read straight from the label map: a k x k convolution
// (reflection padding k / 2) of the one-hot + edge + feature input, where the one-hot part
// is a gather of one weight column per tap instead of label_nc multiply-adds. Exactly
// conv2d(reflect_pad(generator_input(labels, edges, features)), weight, bias), without the
// input ever being written.
#pragma once

#include <cstdint>

#include "kernels/common.h"
#include "kernels/one_hot.h"

namespace p2phd {

// Output channels one thread accumulates at a time: enough to reuse each label read, few
// enough to stay in registers.
constexpr int kLabelConvChunk = 16;

// Index of padded coordinate i - pad in a reflection-padded axis of size n (pad < n).
P2PHD_HD int64_t reflect_index(int64_t i, int64_t n) {
  if (i < 0) {
    return -i;
  }
  return i >= n ? 2 * (n - 1) - i : i;
}

struct LabelConvShape {
  ImageShape image;
  int64_t label_nc;
  int64_t edge_channels;     // 1 with an edge map, else 0
  int64_t feature_channels;  // K
  int64_t kernel;            // k, odd
  int64_t out_channels;
  bool channels_last;  // of the output
  P2PHD_HD int64_t in_channels() const { return label_nc + edge_channels + feature_channels; }
  P2PHD_HD TensorLayout output() const {
    return TensorLayout{out_channels, image.h, image.w, channels_last};
  }
};

// Output channels [first, first + kLabelConvChunk) of pixel (y, x) of image b. weight is
// float [in_channels, k, k, out_channels] (output channels contiguous), bias float
// [out_channels]; edges [N, 1, H, W] and features [N, K, H, W] may be null; out points at
// the start of the [N, out_channels, H, W] output (NCHW or NHWC).
template <typename Label, typename T>
P2PHD_HD void label_conv_pixel(const Label* labels, const T* edges, const T* features,
                               const float* weight, const float* bias, LabelConvShape s, int64_t b,
                               int64_t y, int64_t x, int64_t first, T* out, int64_t* status) {
  const int64_t plane = s.image.pixels();
  const int64_t count =
      s.out_channels - first < kLabelConvChunk ? s.out_channels - first : kLabelConvChunk;
  float acc[kLabelConvChunk];
  for (int j = 0; j < kLabelConvChunk; ++j) {
    acc[j] = j < count ? bias[first + j] : 0.0f;
  }
  const int64_t radius = s.kernel / 2;
  const int64_t tap_stride = s.out_channels;                            // next tap, same channel
  const int64_t channel_stride = s.kernel * s.kernel * s.out_channels;  // next input channel
  for (int64_t ky = 0; ky < s.kernel; ++ky) {
    const int64_t sy = reflect_index(y + ky - radius, s.image.h);
    for (int64_t kx = 0; kx < s.kernel; ++kx) {
      const int64_t sx = reflect_index(x + kx - radius, s.image.w);
      const int64_t source = b * plane + sy * s.image.w + sx;
      const float* tap = weight + (ky * s.kernel + kx) * tap_stride + first;
      const int64_t label = one_hot_class(labels[source], s.label_nc, status);
      if (label >= 0) {
        const float* column = tap + label * channel_stride;
        for (int j = 0; j < kLabelConvChunk; ++j) {
          acc[j] += j < count ? column[j] : 0.0f;
        }
      }
      int64_t c = s.label_nc;
      if (edges) {
        const float edge = to_float(edges[source]);
        const float* column = tap + c * channel_stride;
        for (int j = 0; j < kLabelConvChunk; ++j) {
          acc[j] += j < count ? edge * column[j] : 0.0f;
        }
        ++c;
      }
      for (int64_t k = 0; k < s.feature_channels; ++k, ++c) {
        const float value =
            to_float(features[(b * s.feature_channels + k) * plane + sy * s.image.w + sx]);
        const float* column = tap + c * channel_stride;
        for (int j = 0; j < kLabelConvChunk; ++j) {
          acc[j] += j < count ? value * column[j] : 0.0f;
        }
      }
    }
  }
  const TensorLayout layout = s.output();
  for (int j = 0; j < kLabelConvChunk; ++j) {
    if (j < count) {
      out[layout.offset(b, first + j, y, x)] = from_float<T>(acc[j]);
    }
  }
}

// labels: [N, H, W]; edges: [N, 1, H, W] or null; features: [N, K, H, W] or null, both of the
// output's dtype; weight: float [C_in, k, k, C_out]; bias: float [C_out];
// out: [N, C_out, H, W], NCHW or NHWC; status: [2] int64.
void label_conv_cpu(const void* labels, DType label_dtype, const void* edges, const void* features,
                    const float* weight, const float* bias, LabelConvShape shape, void* out,
                    DType out_dtype, int64_t* status);
void label_conv_cuda(const void* labels, DType label_dtype, const void* edges, const void* features,
                     const float* weight, const float* bias, LabelConvShape shape, void* out,
                     DType out_dtype, int64_t* status, int device, uintptr_t stream);

}  // namespace p2phd
