// SPDX-License-Identifier: Apache-2.0
// The generator's first convolution, read straight from the label map: a k x k convolution
// (reflection padding k / 2) of the one-hot + edge + feature input, where the one-hot part
// is a gather of one weight column per tap instead of label_nc multiply-adds. Exactly
// conv2d(reflect_pad(generator_input(labels, edges, features)), weight, bias), without the
// input ever being written.
//
// Pooled, the convolution runs on the input average-pooled as pix2pixHD's pyramid does it
// (3 x 3 window, stride 2, padding 1 not counted): the labels stay at full resolution and each
// tap gathers the columns of the distinct labels in its window, weighted by their share; the
// edge and feature channels come already pooled, at the output's resolution.
#pragma once

#include <cstdint>

#include "kernels/common.h"
#include "kernels/one_hot.h"

namespace p2phd {

// Output channels one thread accumulates at a time: enough to reuse each label read, few
// enough to stay in registers.
constexpr int kLabelConvChunk = 16;

struct LabelConvShape {
  ImageShape image;  // of the output, the edges and the features
  int64_t label_h;   // of the label map: the output's size, or twice it (less one) pooled
  int64_t label_w;
  bool pooled;
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

// acc[j] += share * column[j] for the chunk's `count` channels.
P2PHD_HD void add_column(float* acc, const float* column, float share, int64_t count) {
  for (int j = 0; j < kLabelConvChunk; ++j) {
    acc[j] += j < count ? share * column[j] : 0.0f;
  }
}

// Adds the one-hot part of tap (sy, sx) of image b: one column, or pooled the share of each
// distinct label of the 3 x 3 full-resolution window of (sy, sx).
template <typename Label>
P2PHD_HD void add_label_tap(const Label* labels, LabelConvShape s, int64_t b, int64_t sy,
                            int64_t sx, const float* tap, int64_t channel_stride, int64_t count,
                            float* acc, int64_t* status) {
  const Label* map = labels + b * s.label_h * s.label_w;
  if (!s.pooled) {
    const int64_t label = one_hot_class(map[sy * s.label_w + sx], s.label_nc, status);
    if (label >= 0) {
      add_column(acc, tap + label * channel_stride, 1.0f, count);
    }
    return;
  }
  int64_t distinct[9];
  int hits[9];
  int kinds = 0;
  int pixels = 0;
  for (int64_t fy = 2 * sy - 1; fy <= 2 * sy + 1; ++fy) {
    for (int64_t fx = 2 * sx - 1; fx <= 2 * sx + 1; ++fx) {
      if (fy < 0 || fy >= s.label_h || fx < 0 || fx >= s.label_w) {
        continue;
      }
      ++pixels;  // an invalid label still counts: it is a zero one-hot vector
      const int64_t label = one_hot_class(map[fy * s.label_w + fx], s.label_nc, status);
      if (label < 0) {
        continue;
      }
      int i = 0;
      while (i < kinds && distinct[i] != label) {
        ++i;
      }
      if (i == kinds) {
        distinct[kinds] = label;
        hits[kinds++] = 0;
      }
      ++hits[i];
    }
  }
  for (int i = 0; i < kinds; ++i) {
    add_column(acc, tap + distinct[i] * channel_stride, static_cast<float>(hits[i]) / pixels,
               count);
  }
}

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
      const float* tap = weight + (ky * s.kernel + kx) * tap_stride + first;
      add_label_tap(labels, s, b, sy, sx, tap, channel_stride, count, acc, status);
      int64_t c = s.label_nc;
      if (edges) {
        const float edge = to_float(edges[b * plane + sy * s.image.w + sx]);
        add_column(acc, tap + c * channel_stride, edge, count);
        ++c;
      }
      for (int64_t k = 0; k < s.feature_channels; ++k, ++c) {
        const float value =
            to_float(features[(b * s.feature_channels + k) * plane + sy * s.image.w + sx]);
        add_column(acc, tap + c * channel_stride, value, count);
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

// labels: [N, label_h, label_w]; edges: [N, 1, H, W] or null; features: [N, K, H, W] or
// null, both of the output's dtype; weight: float [C_in, k, k, C_out]; bias: float [C_out];
// out: [N, C_out, H, W], NCHW or NHWC; status: [2] int64.
void label_conv_cpu(const void* labels, DType label_dtype, const void* edges, const void* features,
                    const float* weight, const float* bias, LabelConvShape shape, void* out,
                    DType out_dtype, int64_t* status);
void label_conv_cuda(const void* labels, DType label_dtype, const void* edges, const void* features,
                     const float* weight, const float* bias, LabelConvShape shape, void* out,
                     DType out_dtype, int64_t* status, int device, uintptr_t stream);

}  // namespace p2phd
