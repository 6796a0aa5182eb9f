// Products of small tiles for the attention kernels: C (rows, cols) = or += A (rows, depth)
// B (depth, cols). A is read through a row and a column stride, so a transposed tile costs no
// copy; B and C are row-major. Each block of C (8 rows x 2 SIMD vectors; 8 x 1 for an odd last
// vector) stays in registers for the whole depth: per step of the depth, 8 broadcasts of A and
// 2 loads of B feed 16 fused multiply-adds. (4 x 4 blocks need as many loads of B as FMAs, as
// the compiler keeps B in memory operands, and ran 20% slower.) Attention forward + backward at
// T = 2048 (bench/op_bench BM_AttentionLong, one thread, CPU time) took 290 ms with these loops,
// 480-510 ms with OpenBLAS sgemm per tile (Haswell kernels) and 280-295 ms with OpenBLAS's
// AVX-512 kernels: BLAS packs both operands on every call, which at depth 32 costs about as much
// as the product. These loops are also the same code for float and double.
#pragma once
#include <cstdint>

namespace moe::cpu {

// Elements per 64-byte SIMD vector; C's column count must be a multiple of it.
template <typename T>
inline constexpr int64_t kTileLanes = static_cast<int64_t>(64 / sizeof(T));

// C's row count must be a multiple of this.
inline constexpr int64_t kTileRows = 8;

namespace tile_detail {

// C (R, V lanes) (+)= A (R, depth) B (depth, V lanes).
template <typename T, int R, int V>
inline void block(T* __restrict c, int64_t ldc, const T* __restrict a, int64_t a_row, int64_t a_col,
                  const T* __restrict b, int64_t ldb, int64_t depth, bool accumulate) {
  constexpr int64_t N = V * kTileLanes<T>;
  T acc[R][N];
  for (int r = 0; r < R; ++r)
    for (int64_t n = 0; n < N; ++n)
      acc[r][n] = accumulate ? c[r * ldc + n] : T(0);
  for (int64_t k = 0; k < depth; ++k) {
    const T* bk = b + k * ldb;
    for (int r = 0; r < R; ++r) {
      const T ark = a[r * a_row + k * a_col];
#pragma omp simd
      for (int64_t n = 0; n < N; ++n)
        acc[r][n] += ark * bk[n];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int64_t n = 0; n < N; ++n)
      c[r * ldc + n] = acc[r][n];
}

}  // namespace tile_detail

// c (rows, cols) with row stride ldc; A(r, k) = a[r * a_row + k * a_col]; b (depth, cols) with
// row stride ldb. rows % kTileRows == 0 and cols % kTileLanes<T> == 0. C = A B, or C += A B
// when `accumulate`. The sum over the depth runs in order, so results are reproducible.
template <typename T>
void tile_gemm(T* c, int64_t ldc, const T* a, int64_t a_row, int64_t a_col, const T* b, int64_t ldb,
               int64_t rows, int64_t cols, int64_t depth, bool accumulate) {
  constexpr int64_t L = kTileLanes<T>;
  using tile_detail::block;
  for (int64_t r = 0; r < rows; r += kTileRows) {
    T* cr = c + r * ldc;
    const T* ar = a + r * a_row;
    int64_t n = 0;
    for (; n + 2 * L <= cols; n += 2 * L)
      block<T, 8, 2>(cr + n, ldc, ar, a_row, a_col, b + n, ldb, depth, accumulate);
    if (n < cols) block<T, 8, 1>(cr + n, ldc, ar, a_row, a_col, b + n, ldb, depth, accumulate);
  }
}

}  // namespace moe::cpu
