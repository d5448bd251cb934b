// SPDX-License-Identifier: Apache-2.0
// The generator's last layer and the conversion to an image in one pass: a k x k convolution
// (no padding: the input comes padded, e.g. by instance_norm) to at most 4 output channels,
// tanh, then uint8 as to_uint8_image. Eager PyTorch spends more on this 3-channel convolution
// than on most wide ones, and writes and rereads the float image twice more.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/common.h"
#include "kernels/to_uint8_image.h"

namespace p2phd {

constexpr int64_t kOutputConvMaxChannels = 4;

struct OutputConvShape {
  ImageShape image;  // of the output: the input is H + k - 1 x W + k - 1
  int64_t in_channels;
  int64_t kernel;
  int64_t out_channels;  // <= kOutputConvMaxChannels
  bool channels_last;    // of the input
  P2PHD_HD TensorLayout input() const {
    return TensorLayout{in_channels, image.h + kernel - 1, image.w + kernel - 1, channels_last};
  }
};

// Pixels one thread computes: neighbours in a row share most of their input, so each value
// read serves up to kOutputConvRun windows.
constexpr int64_t kOutputConvRun = 4;

// Pixels (y, px) .. (y, px + kOutputConvRun - 1) of image b (those inside the image): all
// output channels, interleaved, from `rgb` on. weight is float [in_channels, k, k,
// out_channels], bias float [out_channels]. Each pixel sums its taps in (ky, kx, c) order.
template <typename T>
P2PHD_HD void output_conv_run(const T* x, const float* weight, const float* bias, OutputConvShape s,
                              int64_t b, int64_t y, int64_t px, uint8_t* rgb) {
  const int64_t run = s.image.w - px < kOutputConvRun ? s.image.w - px : kOutputConvRun;
  float acc[kOutputConvRun][kOutputConvMaxChannels];
  for (int64_t r = 0; r < kOutputConvRun; ++r) {
    for (int64_t o = 0; o < kOutputConvMaxChannels; ++o) {
      acc[r][o] = o < s.out_channels ? bias[o] : 0.0f;
    }
  }
  const TensorLayout layout = s.input();
  // Consecutive input channels are adjacent in NHWC and one plane apart in NCHW.
  const int64_t channel_step = layout.offset(0, 1, 0, 0) - layout.offset(0, 0, 0, 0);
  const int64_t tap_weights = s.kernel * s.kernel * s.out_channels;
  for (int64_t ky = 0; ky < s.kernel; ++ky) {
    // Input column px + i is tap i - r of pixel px + r.
    for (int64_t i = 0; i < s.kernel + run - 1; ++i) {
      const T* column = x + layout.offset(b, 0, y + ky, px + i);
      for (int64_t c = 0; c < s.in_channels; ++c) {
        const float value = to_float(column[c * channel_step]);
        for (int64_t r = 0; r < kOutputConvRun; ++r) {
          const int64_t kx = i - r;
          if (r >= run || kx < 0 || kx >= s.kernel) {
            continue;
          }
          const float* taps = weight + c * tap_weights + (ky * s.kernel + kx) * s.out_channels;
          for (int64_t o = 0; o < kOutputConvMaxChannels; ++o) {
            acc[r][o] += o < s.out_channels ? value * taps[o] : 0.0f;
          }
        }
      }
    }
  }
  for (int64_t r = 0; r < run; ++r) {
    for (int64_t o = 0; o < s.out_channels; ++o) {
      rgb[r * s.out_channels + o] = to_uint8_value(tanhf(acc[r][o]));
    }
  }
}

// x: [N, C_in, H + k - 1, W + k - 1], NCHW or NHWC; weight: float [C_in, k, k, C_out]; bias: float
// [C_out]; out: uint8 [N, H, W, C_out].
void output_conv_cpu(const void* x, DType dtype, const float* weight, const float* bias,
                     OutputConvShape shape, uint8_t* out);
void output_conv_cuda(const void* x, DType dtype, const float* weight, const float* bias,
                      OutputConvShape shape, uint8_t* out, int device, uintptr_t stream);

}  // namespace p2phd
