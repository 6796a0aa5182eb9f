#include "backends/cpu/grouped_gemm.h"

#include <cblas.h>

#include <algorithm>

#include "core/check.h"

namespace moe::cpu {

namespace {

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, double alpha,
          const double* a, int64_t lda, const double* b, int64_t ldb, double beta, double* c,
          int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// The offsets decide which memory each GEMM touches, so they must be a non-decreasing
// partition inside the buffer.
void check_offsets(const char* op, const int32_t* off, int64_t E, int64_t M) {
  MOE_CHECK(off[0] >= 0, op, ": expert_offsets[0] = ", off[0], " is negative");
  for (int64_t e = 0; e < E; ++e)
    MOE_CHECK(off[e] <= off[e + 1], op, ": expert_offsets decrease at expert ", e, " (", off[e],
              " > ", off[e + 1], ")");
  MOE_CHECK(off[E] <= M, op, ": expert_offsets[E] = ", off[E], " exceeds the ", M, " buffer rows");
}

// Runs task(0) .. task(n - 1). Several tasks are spread over the threads, each running whole
// GEMMs (OpenBLAS runs single-threaded inside a parallel region), which avoids a thread barrier
// per small GEMM. A lone task runs outside any parallel region, so that OpenBLAS threads its GEMM:
// an inactive region (if(false)) would still make BLAS open a nested team beside the idle pool
// threads, which then spin against it for the cores.
template <typename Task>
void run_tasks(int64_t n, const Task& task) {
  if (n == 1) {
    task(0);
    return;
  }
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < n; ++i)
    task(i);
}

}  // namespace

template <typename T>
void grouped_linear_forward(T* out, const T* x, const T* w, const T* b,
                            const int32_t* expert_offsets, int64_t M, int64_t I, int64_t O,
                            int64_t E) {
  check_offsets("grouped_linear_forward", expert_offsets, E, M);
  // One task per expert; each output element is computed the same way whatever the schedule.
  run_tasks(E, [&](int64_t e) {
    const int64_t r0 = expert_offsets[e], rows = expert_offsets[e + 1] - r0;
    if (rows == 0) return;
    T* o = out + r0 * O;
    if (b) {
      for (int64_t r = 0; r < rows; ++r)
        std::copy(b + e * O, b + (e + 1) * O, o + r * O);
    }
    // out_e = x_e w_e^T (+ b_e): (rows, I) x (I, O).
    gemm(CblasNoTrans, CblasTrans, rows, O, I, T(1), x + r0 * I, I, w + e * O * I, I,
         b ? T(1) : T(0), o, O);
  });
}

template <typename T>
void grouped_linear_backward(T* dx, T* dw, T* db, const T* dout, const T* x, const T* w,
                             const int32_t* expert_offsets, int64_t M, int64_t I, int64_t O,
                             int64_t E) {
  check_offsets("grouped_linear_backward", expert_offsets, E, M);
  // Two independent tasks per expert (input gradient; weight and bias gradients), so that two
  // threads balance better than with whole experts. Each task writes memory no other task touches.
  const auto run = [&](int64_t task) {
    const int64_t e = task / 2;
    const int64_t r0 = expert_offsets[e], rows = expert_offsets[e + 1] - r0;
    if (rows == 0) return;
    const T* go = dout + r0 * O;
    if (task % 2 == 0) {
      // dx_e = dout_e w_e: (rows, O) x (O, I).
      if (dx)
        gemm(CblasNoTrans, CblasNoTrans, rows, I, O, T(1), go, O, w + e * O * I, I, T(0),
             dx + r0 * I, I);
      return;
    }
    // dw_e += dout_e^T x_e: (O, rows) x (rows, I).
    gemm(CblasTrans, CblasNoTrans, O, I, rows, T(1), go, O, x + r0 * I, I, T(1), dw + e * O * I, I);
    if (db) {
      T* g = db + e * O;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t o = 0; o < O; ++o)
          g[o] += go[r * O + o];
    }
  };
  if (E == 1) {  // a lone expert: each GEMM threaded by BLAS, one after the other
    run(0);
    run(1);
  } else {
    run_tasks(2 * E, run);
  }
}

#define MOE_INSTANTIATE(T)                                                                  \
  template void grouped_linear_forward<T>(T*, const T*, const T*, const T*, const int32_t*, \
                                          int64_t, int64_t, int64_t, int64_t);              \
  template void grouped_linear_backward<T>(T*, T*, T*, const T*, const T*, const T*,        \
                                           const int32_t*, int64_t, int64_t, int64_t, int64_t);
MOE_INSTANTIATE(float)
MOE_INSTANTIATE(double)
#undef MOE_INSTANTIATE

}  // namespace moe::cpu
