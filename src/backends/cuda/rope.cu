#include "backends/cuda/rope.h"

#include "backends/cuda/check.h"
#include "backends/cuda/tensor_data.h"

namespace moe::cuda {
namespace {

// One thread per (row, head, i < D/2) rotates the pair (i, i + D/2) of x (B*T, H, D) by +angle
// (sign = 1) or -angle (sign = -1). With c = cos(angle), s = sin(angle), HF's
// `x * cos + rotate_half(x) * sin` gives
//   out[i]        = x[i] c - x[i + D/2] s
//   out[i + D/2]  = x[i + D/2] c + x[i] s
// and its transpose (the backward) is the same map with s negated. The angle
// pos * theta^(-2i/D) (transformers LlamaRotaryEmbedding) is formed in double, as on the CPU;
// CUDA's pow, cos and sin are within an ulp or two of glibc's in double, which the rounding to
// float almost always hides.
__global__ void rotate_kernel(float* out, const float* x, int64_t rows, int64_t Tn, int64_t H,
                              int64_t D, int64_t pos_offset, double theta, double sign) {
  const int64_t half = D / 2;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= rows * H * half) return;
  const int64_t i = idx % half, rh = idx / half;  // rh = row * H + h
  const int64_t row = rh / H;
  const double pos = static_cast<double>(pos_offset + row % Tn);
  const double angle = pos * pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(D));
  const float c = static_cast<float>(cos(angle));
  const float s = static_cast<float>(sign * sin(angle));
  const int64_t base = rh * D;
  const float a = x[base + i];
  const float b = x[base + i + half];
  out[base + i] = a * c - b * s;
  out[base + i + half] = b * c + a * s;
}

void rotate(float* out, const float* x, const Tensor& shape_of, int64_t pos_offset, float theta,
            double sign) {
  const int64_t B = shape_of.size(0), Tn = shape_of.size(1), H = shape_of.size(2),
                D = shape_of.size(3);
  const int64_t pairs = B * Tn * H * (D / 2);
  rotate_kernel<<<blocks_for(pairs), kThreadsPerBlock>>>(out, x, B * Tn, Tn, H, D, pos_offset,
                                                         static_cast<double>(theta), sign);
  MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace

void rope_forward(Tensor out, const Tensor& x, int64_t pos_offset, float theta) {
  rotate(data<float>(out), data<float>(x), x, pos_offset, theta, 1.0);
}

void rope_backward(Tensor dx, const Tensor& dout, int64_t pos_offset, float theta) {
  rotate(data<float>(dx), data<float>(dout), dout, pos_offset, theta, -1.0);
}

}  // namespace moe::cuda
