#include "backends/cpu/grouped_gemm.h"

#include <algorithm>
#include <vector>

#include "backends/cpu/blas.h"
#include "backends/cpu/tensor_data.h"

namespace moe::cpu {

namespace {

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

// One GEMM of the grouped layer, or a slice of it: rows [begin, end) of expert `expert`'s tokens
// (forward, input gradient) or of its weight-gradient rows (output features).
struct GemmPiece {
  int64_t expert, begin, end;
  int64_t cost;  // multiply-adds / I, for ordering
  bool weight_grad;
};

// Routers often send half of the tokens to one expert, and one GEMM per expert then leaves the
// other threads idle while it runs. So an expert's GEMM is cut into slices of at most a quarter of
// all routed rows (at least 64, multiples of 16 so BLAS keeps whole register tiles), and slices run
// longest first (LPT scheduling: no thread starts a long slice at the end). The cuts depend only
// on the routing, not on the thread count, and a slice computes its outputs as the whole GEMM
// would (the reduction over the inner dimension is not cut), so results do not change with threads.
int64_t slice_count(int64_t rows, int64_t routed_rows) {
  constexpr int64_t kMinSliceRows = 64, kTile = 16;
  const int64_t quarter = ((routed_rows + 3) / 4 + kTile - 1) / kTile * kTile;
  const int64_t max_rows = std::max(kMinSliceRows, quarter);
  return (rows + max_rows - 1) / max_rows;
}

// Appends the slices of `extent` (rows or weight-gradient rows) of one expert's GEMM whose work
// is proportional to `rows` routed rows; slice boundaries are multiples of 16 except the last.
// Without `cut` (a dense layer, whose one GEMM BLAS threads itself) the GEMM stays whole.
void add_slices(std::vector<GemmPiece>& pieces, int64_t expert, int64_t first, int64_t extent,
                int64_t rows, int64_t routed_rows, int64_t cost_per_row, bool weight_grad,
                bool cut) {
  const int64_t n =
      cut ? std::min(slice_count(rows, routed_rows), std::max<int64_t>(1, extent / 16)) : 1;
  for (int64_t s = 0; s < n; ++s) {
    const int64_t b = s == 0 ? 0 : extent * s / n / 16 * 16;
    const int64_t e = s == n - 1 ? extent : extent * (s + 1) / n / 16 * 16;
    pieces.push_back({expert, first + b, first + e, (e - b) * cost_per_row, weight_grad});
  }
}

void order_longest_first(std::vector<GemmPiece>& pieces) {
  std::sort(pieces.begin(), pieces.end(), [](const GemmPiece& a, const GemmPiece& b) {
    if (a.cost != b.cost) return a.cost > b.cost;
    if (a.expert != b.expert) return a.expert < b.expert;
    return a.weight_grad < b.weight_grad || (a.weight_grad == b.weight_grad && a.begin < b.begin);
  });
}

// Reused between calls so that a training step allocates nothing once the first has run.
std::vector<GemmPiece>& piece_buffer() {
  thread_local std::vector<GemmPiece> pieces;
  pieces.clear();
  return pieces;
}

// Runs one piece of the backward pass of the grouped layer.
template <typename T>
void run_backward_piece(const GemmPiece& p, T* dx, T* dw, T* db, const T* dout, const T* x,
                        const T* w, const int32_t* expert_offsets, int64_t I, int64_t O,
                        InputGrad dx_mode) {
  const int64_t e = p.expert, n = p.end - p.begin;
  if (!p.weight_grad) {
    // dx[begin:end] = dout[begin:end] w_e (+ dx[begin:end]): (n, O) x (O, I).
    gemm(CblasNoTrans, CblasNoTrans, n, I, O, T(1), dout + p.begin * O, O, w + e * O * I, I,
         T(dx_mode == InputGrad::Accumulate ? 1 : 0), dx + p.begin * I, I);
    return;
  }
  const int64_t r0 = expert_offsets[e], rows = expert_offsets[e + 1] - r0;
  const T* go = dout + r0 * O;
  // dw_e[begin:end] += dout_e[:, begin:end]^T x_e: (n, rows) x (rows, I).
  gemm(CblasTrans, CblasNoTrans, n, I, rows, T(1), go + p.begin, O, x + r0 * I, I, T(1),
       dw + (e * O + p.begin) * I, I);
  if (db) {
    T* g = db + e * O;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t o = p.begin; o < p.end; ++o)
        g[o] += go[r * O + o];
  }
}

}  // namespace

template <typename T>
void grouped_linear_forward(T* out, const T* x, const T* w, const T* b,
                            const int32_t* expert_offsets, int64_t I, int64_t O, int64_t E) {
  const int64_t routed = expert_offsets[E] - expert_offsets[0];
  std::vector<GemmPiece>& pieces = piece_buffer();
  for (int64_t e = 0; e < E; ++e) {
    const int64_t rows = expert_offsets[e + 1] - expert_offsets[e];
    if (rows > 0) add_slices(pieces, e, expert_offsets[e], rows, rows, routed, O, false, E > 1);
  }
  order_longest_first(pieces);
  run_tasks(static_cast<int64_t>(pieces.size()), [&](int64_t i) {
    const GemmPiece& p = pieces[i];
    const int64_t rows = p.end - p.begin;
    T* o = out + p.begin * O;
    if (b) {
      for (int64_t r = 0; r < rows; ++r)
        std::copy(b + p.expert * O, b + (p.expert + 1) * O, o + r * O);
    }
    // out_e = x_e w_e^T (+ b_e): (rows, I) x (I, O).
    gemm(CblasNoTrans, CblasTrans, rows, O, I, T(1), x + p.begin * I, I, w + p.expert * O * I, I,
         b ? T(1) : T(0), o, O);
  });
}

template <typename T>
void grouped_linear_backward(T* dx, T* dw, T* db, const T* dout, const T* x, const T* w,
                             const int32_t* expert_offsets, int64_t I, int64_t O, int64_t E,
                             InputGrad dx_mode) {
  // Input gradient and weight (and bias) gradient of an expert are separate pieces, each cut like
  // the forward GEMM: the input gradient by token rows, the weight gradient by output features.
  // Each piece writes memory no other piece touches.
  const int64_t routed = expert_offsets[E] - expert_offsets[0];
  std::vector<GemmPiece>& pieces = piece_buffer();
  for (int64_t e = 0; e < E; ++e) {
    const int64_t r0 = expert_offsets[e], rows = expert_offsets[e + 1] - r0;
    if (rows == 0) continue;
    if (dx) add_slices(pieces, e, r0, rows, rows, routed, O, false, E > 1);
    add_slices(pieces, e, 0, O, rows, routed, rows, true, E > 1);
  }
  if (E == 1) {  // a dense layer: each GEMM threaded by BLAS, one after the other
    for (const GemmPiece& p : pieces)
      run_backward_piece(p, dx, dw, db, dout, x, w, expert_offsets, I, O, dx_mode);
    return;
  }
  order_longest_first(pieces);
  run_tasks(static_cast<int64_t>(pieces.size()), [&](int64_t i) {
    run_backward_piece(pieces[i], dx, dw, db, dout, x, w, expert_offsets, I, O, dx_mode);
  });
}

void grouped_linear_forward(Tensor out, const Tensor& x, const Tensor& w, const Tensor& b,
                            const Tensor& expert_offsets) {
  for_dtype(x.dtype, [&]<typename T>(T) {
    grouped_linear_forward(data<T>(out), data<T>(x), data<T>(w), data_or_null<T>(b),
                           data<int32_t>(expert_offsets), x.size(1), w.size(1), w.size(0));
  });
}

void grouped_linear_backward(Tensor dx, Tensor dw, Tensor db, const Tensor& dout, const Tensor& x,
                             const Tensor& w, const Tensor& expert_offsets, InputGrad dx_mode) {
  for_dtype(x.dtype, [&]<typename T>(T) {
    grouped_linear_backward(data_or_null<T>(dx), data<T>(dw), data_or_null<T>(db), data<T>(dout),
                            data<T>(x), data<T>(w), data<int32_t>(expert_offsets), x.size(1),
                            w.size(1), w.size(0), dx_mode);
  });
}

#define MOE_INSTANTIATE(T)                                                                  \
  template void grouped_linear_forward<T>(T*, const T*, const T*, const T*, const int32_t*, \
                                          int64_t, int64_t, int64_t);                       \
  template void grouped_linear_backward<T>(T*, T*, T*, const T*, const T*, const T*,        \
                                           const int32_t*, int64_t, int64_t, int64_t, InputGrad);
MOE_INSTANTIATE(float)
MOE_INSTANTIATE(double)
#undef MOE_INSTANTIATE

}  // namespace moe::cpu
