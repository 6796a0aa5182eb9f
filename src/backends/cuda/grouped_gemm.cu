#include "backends/cuda/grouped_gemm.h"

#include "backends/cuda/check.h"
#include "backends/cuda/tensor_data.h"
#include "backends/cuda/widen.h"

namespace moe::cuda {
namespace {

// A block computes a (kTileM, kTileN) tile of one expert's product; its 16 x 16 threads hold
// 4 x 4 outputs each, rows ty + 16 i and columns tx + 16 j of the tile. The inner dimension runs
// in steps of kTileK through shared memory, always in ascending order, so every output is the
// same chain of multiply-adds on every run.
constexpr int kTileM = 64, kTileN = 64, kTileK = 16;
constexpr int kThreadsPerSide = 16, kOutputsPerThread = 4;
constexpr int kGemmThreads = kThreadsPerSide * kThreadsPerSide;

// acc[i][j] += sum over k in [0, K) of A(m0 + ty + 16 i, k) B(k, n0 + tx + 16 j), where
// A(m, k) = a[m * lda + k] (a[k * lda + m] when kTransA), B(k, n) = b[k * ldb + n]
// (b[n * ldb + k] when kTransB), and elements outside (M, K) and (K, N) read as 0. The operands
// are fp32 or bf16 (In = uint16_t), widened to fp32 as the tiles load, so bf16 products
// accumulate in fp32.
template <bool kTransA, bool kTransB, typename In>
__device__ void tile_product(float (&acc)[kOutputsPerThread][kOutputsPerThread], const In* a,
                             int64_t lda, const In* b, int64_t ldb, int64_t M, int64_t N, int64_t K,
                             int64_t m0, int64_t n0) {
  __shared__ float as[kTileK][kTileM + 1];  // (kTileK, kTileM) A tile, transposed
  __shared__ float bs[kTileK][kTileN + 1];  // (kTileK, kTileN) B tile
  const int tid = threadIdx.x, tx = tid % kThreadsPerSide, ty = tid / kThreadsPerSide;
  for (int64_t k0 = 0; k0 < K; k0 += kTileK) {
    // Consecutive threads load consecutive addresses of whichever layout the operand has.
    for (int idx = tid; idx < kTileM * kTileK; idx += kGemmThreads) {
      const int m = kTransA ? idx % kTileM : idx / kTileK;
      const int k = kTransA ? idx / kTileM : idx % kTileK;
      const int64_t gm = m0 + m, gk = k0 + k;
      as[k][m] = gm < M && gk < K ? widen(kTransA ? a[gk * lda + gm] : a[gm * lda + gk]) : 0.0f;
    }
    for (int idx = tid; idx < kTileK * kTileN; idx += kGemmThreads) {
      const int n = kTransB ? idx / kTileK : idx % kTileN;
      const int k = kTransB ? idx % kTileK : idx / kTileN;
      const int64_t gn = n0 + n, gk = k0 + k;
      bs[k][n] = gn < N && gk < K ? widen(kTransB ? b[gn * ldb + gk] : b[gk * ldb + gn]) : 0.0f;
    }
    __syncthreads();
    for (int k = 0; k < kTileK; ++k) {
      float av[kOutputsPerThread], bv[kOutputsPerThread];
      for (int i = 0; i < kOutputsPerThread; ++i)
        av[i] = as[k][ty + kThreadsPerSide * i];
      for (int j = 0; j < kOutputsPerThread; ++j)
        bv[j] = bs[k][tx + kThreadsPerSide * j];
      for (int i = 0; i < kOutputsPerThread; ++i)
        for (int j = 0; j < kOutputsPerThread; ++j)
          acc[i][j] += av[i] * bv[j];
    }
    __syncthreads();
  }
}

// Calls store(m, n, value) for the outputs of this thread that lie inside (M, N).
template <typename Store>
__device__ void store_tile(const float (&acc)[kOutputsPerThread][kOutputsPerThread], int64_t M,
                           int64_t N, int64_t m0, int64_t n0, Store store) {
  const int tx = threadIdx.x % kThreadsPerSide, ty = threadIdx.x / kThreadsPerSide;
  for (int i = 0; i < kOutputsPerThread; ++i)
    for (int j = 0; j < kOutputsPerThread; ++j) {
      const int64_t m = m0 + ty + kThreadsPerSide * i, n = n0 + tx + kThreadsPerSide * j;
      if (m < M && n < N) store(m, n, acc[i][j]);
    }
}

// Grid (row tiles of the whole buffer, output tiles, experts); blocks past their expert's rows
// exit. out_e (rows, O) = x_e (rows, I) w_e^T + b_e.
// out (M, O), x (M, I), w (E, O, I), b (E, O) or null, expert_offsets (E+1).
template <typename In>
__global__ void forward_kernel(float* out, const In* x, const In* w, const float* b,
                               const int32_t* expert_offsets, int64_t I, int64_t O) {
  const int64_t e = blockIdx.z, begin = expert_offsets[e];
  const int64_t rows = expert_offsets[e + 1] - begin;
  const int64_t m0 = blockIdx.x * int64_t{kTileM}, n0 = blockIdx.y * int64_t{kTileN};
  if (m0 >= rows) return;  // the whole block leaves together
  float acc[kOutputsPerThread][kOutputsPerThread] = {};
  tile_product<false, true>(acc, x + begin * I, I, w + e * O * I, I, rows, O, I, m0, n0);
  store_tile(acc, rows, O, m0, n0, [&](int64_t m, int64_t n, float value) {
    out[(begin + m) * O + n] = b ? b[e * O + n] + value : value;
  });
}

// Grid (row tiles of the whole buffer, input tiles, experts). dx_e (rows, I) = dout_e (rows, O)
// w_e (+ dx_e when accumulating). dx (M, I), dout (M, O), w (E, O, I), expert_offsets (E+1).
template <typename In>
__global__ void input_grad_kernel(float* dx, const In* dout, const In* w,
                                  const int32_t* expert_offsets, int64_t I, int64_t O,
                                  bool accumulate) {
  const int64_t e = blockIdx.z, begin = expert_offsets[e];
  const int64_t rows = expert_offsets[e + 1] - begin;
  const int64_t m0 = blockIdx.x * int64_t{kTileM}, n0 = blockIdx.y * int64_t{kTileN};
  if (m0 >= rows) return;
  float acc[kOutputsPerThread][kOutputsPerThread] = {};
  tile_product<false, false>(acc, dout + begin * O, O, w + e * O * I, I, rows, I, O, m0, n0);
  store_tile(acc, rows, I, m0, n0, [&](int64_t m, int64_t n, float value) {
    float& out = dx[(begin + m) * I + n];
    out = accumulate ? out + value : value;
  });
}

// Grid (output tiles, input tiles, experts); each block runs over its expert's rows in order.
// dw_e (O, I) += dout_e^T (O, rows) x_e (rows, I); an expert without rows is left alone.
// dw (E, O, I), dout (M, O), x (M, I), expert_offsets (E+1).
template <typename In>
__global__ void weight_grad_kernel(float* dw, const In* dout, const In* x,
                                   const int32_t* expert_offsets, int64_t I, int64_t O) {
  const int64_t e = blockIdx.z, begin = expert_offsets[e];
  const int64_t rows = expert_offsets[e + 1] - begin;
  if (rows == 0) return;
  const int64_t m0 = blockIdx.x * int64_t{kTileM}, n0 = blockIdx.y * int64_t{kTileN};
  float acc[kOutputsPerThread][kOutputsPerThread] = {};
  tile_product<true, false>(acc, dout + begin * O, O, x + begin * I, I, O, I, rows, m0, n0);
  float* dw_e = dw + e * O * I;
  store_tile(acc, O, I, m0, n0,
             [&](int64_t m, int64_t n, float value) { dw_e[m * I + n] += value; });
}

// One thread per (expert, output feature), adding the expert's rows in order as the CPU does.
// db (E, O), dout (M, O), expert_offsets (E+1).
template <typename In>
__global__ void bias_grad_kernel(float* db, const In* dout, const int32_t* expert_offsets,
                                 int64_t E, int64_t O) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= E * O) return;
  const int64_t e = i / O, o = i % O;
  const int64_t begin = expert_offsets[e], end = expert_offsets[e + 1];
  if (begin == end) return;
  float g = db[i];
  for (int64_t r = begin; r < end; ++r)
    g += widen(dout[r * O + o]);
  db[i] = g;
}

// In: the GEMM inputs' element type (float, or uint16_t for bf16); the rest is fp32.
template <typename In>
void typed_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b,
                   const Tensor& expert_offsets) {
  const int64_t M = x.size(0), I = x.size(1), E = w.size(0), O = w.size(1);
  const dim3 grid(blocks_for(M, kTileM), blocks_for(O, kTileN), static_cast<unsigned>(E));
  forward_kernel<In><<<grid, kGemmThreads>>>(data<float>(out), data<In>(x), data<In>(w),
                                             data_or_null<float>(b), data<int32_t>(expert_offsets),
                                             I, O);
  MOE_CUDA_CHECK_LAUNCH();
}

template <typename In>
void typed_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                    const Tensor& w, const Tensor& expert_offsets, InputGrad dx_mode) {
  const int64_t M = x.size(0), I = x.size(1), E = w.size(0), O = w.size(1);
  const int32_t* offsets = data<int32_t>(expert_offsets);
  if (!dx.empty()) {
    const dim3 grid(blocks_for(M, kTileM), blocks_for(I, kTileN), static_cast<unsigned>(E));
    input_grad_kernel<In><<<grid, kGemmThreads>>>(data<float>(dx), data<In>(dout), data<In>(w),
                                                  offsets, I, O, dx_mode == InputGrad::Accumulate);
    MOE_CUDA_CHECK_LAUNCH();
  }
  const dim3 grid(blocks_for(O, kTileM), blocks_for(I, kTileN), static_cast<unsigned>(E));
  weight_grad_kernel<In>
      <<<grid, kGemmThreads>>>(data<float>(dw), data<In>(dout), data<In>(x), offsets, I, O);
  MOE_CUDA_CHECK_LAUNCH();
  if (!db.empty()) {
    bias_grad_kernel<In>
        <<<blocks_for(E * O), kThreadsPerBlock>>>(data<float>(db), data<In>(dout), offsets, E, O);
    MOE_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace

void grouped_linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b,
                            const Tensor& expert_offsets) {
  typed_forward<float>(out, x, w, b, expert_offsets);
}

void grouped_linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                             const Tensor& w, const Tensor& expert_offsets, InputGrad dx_mode) {
  typed_backward<float>(dx, dw, db, dout, x, w, expert_offsets, dx_mode);
}

void bf16_grouped_linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b,
                                 const Tensor& expert_offsets) {
  typed_forward<uint16_t>(out, x, w, b, expert_offsets);
}

void bf16_grouped_linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout,
                                  const Tensor& x, const Tensor& w, const Tensor& expert_offsets,
                                  InputGrad dx_mode) {
  typed_backward<uint16_t>(dx, dw, db, dout, x, w, expert_offsets, dx_mode);
}

}  // namespace moe::cuda
