#include "backends/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/tensor_data.h"
#include "backends/cpu/tile_gemm.h"
#include "backends/cpu/vec_exp.h"
#include "core/rng.h"

namespace moe::cpu {
namespace {

// Queries and keys per tile: a tile of scores is 16 KiB in fp32, so the score, weight and
// gradient tiles of one step and the operand tiles they come from stay in L1/L2.
constexpr int64_t kQueryTile = 64, kKeyTile = 64;

// Below this many score entries times head size (about two tiles' work) a call runs on one
// thread: starting a team costs more than it saves.
constexpr int64_t kParallelMinWork = int64_t{1} << 18;

int64_t round_up(int64_t n, int64_t multiple) {
  return (n + multiple - 1) / multiple * multiple;
}

// Sizes of one call and the index arithmetic on its buffers.
struct Geometry : AttentionDims {
  int64_t group;   // query heads per key/value head
  int64_t offset;  // Tk - Tq: query i is position i + offset
  int64_t Dp;      // D rounded up to whole SIMD vectors: the row length of the tile buffers

  // Start of row (b, i, h) in q, out, dout, dq.
  int64_t q_row(int64_t b, int64_t i, int64_t h) const { return ((b * Tq + i) * H + h) * D; }
  // Start of row (b, j, g) in k, v, dk, dv.
  int64_t kv_row(int64_t b, int64_t j, int64_t g) const { return ((b * Tk + j) * Hkv + g) * D; }
  // Index of weight (b, h, i, j0) in the (B, H, Tq, Tk) numbering of the dropout mask.
  uint64_t mask_index(int64_t b, int64_t h, int64_t i, int64_t j0) const {
    return static_cast<uint64_t>(((b * H + h) * Tq + i) * Tk + j0);
  }
  // Size of the problem: score entries (counting masked ones) times head size.
  int64_t work() const { return B * H * Tq * Tk * D; }
};

template <typename T>
Geometry make_geometry(const AttentionDims& d) {
  return {d, d.H / d.Hkv, d.Tk - d.Tq, round_up(d.D, kTileLanes<T>)};
}

// dst (rows_p, Dp) = s * rows of src (row stride ld, D elements each), zero beyond `rows` rows
// and D columns: padded rows and columns then add nothing to any product.
template <typename T>
void load_rows(T* dst, const T* src, int64_t ld, int64_t rows, int64_t rows_p, int64_t D,
               int64_t Dp, T s) {
  for (int64_t r = 0; r < rows_p; ++r) {
    T* d = dst + r * Dp;
    if (r < rows) {
      for (int64_t c = 0; c < D; ++c)
        d[c] = s * src[r * ld + c];
      std::fill(d + D, d + Dp, T(0));
    } else {
      std::fill(d, d + Dp, T(0));
    }
  }
}

// dst (D, rows_p) with row stride ldd: dst[c][r] = s * src[r * ld + c] for r < rows, 0 for
// rows <= r < rows_p.
template <typename T>
void load_transposed(T* dst, int64_t ldd, const T* src, int64_t ld, int64_t rows, int64_t rows_p,
                     int64_t D, T s) {
  for (int64_t c = 0; c < D; ++c) {
    T* d = dst + c * ldd;
    for (int64_t r = 0; r < rows; ++r)
      d[r] = s * src[r * ld + c];
    std::fill(d + rows, d + rows_p, T(0));
  }
}

// Stores rows (rows, D) of a tile buffer (row length Dp) times s into dst (row stride ld).
template <typename T>
void store_rows(T* dst, int64_t ld, const T* src, int64_t rows, int64_t D, int64_t Dp, T s) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < D; ++c)
      dst[r * ld + c] = s * src[r * Dp + c];
}

// The reduction is split across SIMD lanes (a fixed order for a given build, so results stay
// reproducible): with head size 16 a sequential sum would be bound by the FMA latency chain.
template <typename T>
T dot(const T* a, const T* b, int64_t n) {
  T s = T(0);
#pragma omp simd reduction(+ : s)
  for (int64_t d = 0; d < n; ++d)
    s += a[d] * b[d];
  return s;
}

// f[a * ld + c] (a < outer, c < inner) = the dropout factor of the weight whose mask index is
// base + a * outer_step + c * inner_step: 1 / (1 - p) when kept, 0 when dropped (core/rng.h
// rng_keep, the rule of ops::dropout). Each factor is a pure function of its index, so the inner
// loop vectorises whichever way the tile is laid out.
template <typename T>
void dropout_factors(T* f, int64_t ld, int64_t outer, int64_t inner, uint64_t base,
                     int64_t outer_step, int64_t inner_step, const AttentionOptions& o) {
  const T kept = T(1) / (T(1) - T(o.dropout));
  const uint32_t threshold = dropout_threshold(o.dropout);
  for (int64_t a = 0; a < outer; ++a) {
    const uint64_t row = base + static_cast<uint64_t>(a * outer_step);
    T* fa = f + a * ld;
#pragma omp simd
    for (int64_t c = 0; c < inner; ++c)
      fa[c] = rng_keep(o.key, row + static_cast<uint64_t>(c * inner_step), threshold) ? kept : T(0);
  }
}

// Per-thread buffers, kept between calls so that a training step allocates nothing once the
// first has run. Score tiles are transposed, (keys, queries): the softmax runs down the columns,
// so its max and sum per query are vector operations across queries, never sums across a
// vector.
template <typename T>
struct ForwardTiles {
  std::vector<T> qt;    // (D, kQueryTile) scaled queries, transposed
  std::vector<T> k, v;  // (kKeyTile, Dp) keys and values
  std::vector<T> st;    // (kKeyTile, kQueryTile) scores, then weights (after dropout)
  std::vector<T> f;     // (kKeyTile, kQueryTile) dropout factors
  std::vector<T> o;     // (kQueryTile, Dp) output before the division by the sums
  std::vector<T> m, l;  // (kQueryTile) running max and sum of each query's exponentials
  std::vector<T> tile_max, rescale;  // (kQueryTile)
};

template <typename T>
ForwardTiles<T>& forward_tiles(const Geometry& g, bool dropout) {
  thread_local ForwardTiles<T> t;
  t.qt.resize(g.D * kQueryTile);
  t.k.resize(kKeyTile * g.Dp);
  t.v.resize(kKeyTile * g.Dp);
  t.st.resize(kKeyTile * kQueryTile);
  if (dropout) t.f.resize(kKeyTile * kQueryTile);
  t.o.resize(kQueryTile * g.Dp);
  for (std::vector<T>* x : {&t.m, &t.l, &t.tile_max, &t.rescale})
    x->resize(kQueryTile);
  return t;
}

// Output rows i0 .. i0 + kQueryTile of head h in batch b: one pass over the visible key tiles
// with the online softmax (Milakov & Gimelshein 2018): each tile raises the running max m of a
// query, rescales what earlier tiles added by exp(m_old - m_new), and adds its exponentials
// exp(s - m) to the sum l and, weighting the values, to o. At the end out = o / l and
// lse = m + log(l).
template <typename T>
void forward_query_tile(T* out, T* lse, const T* q, const T* k, const T* v, const Geometry& g,
                        const AttentionOptions& o, int64_t b, int64_t h, int64_t i0) {
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  ForwardTiles<T>& t = forward_tiles<T>(g, o.dropout > 0.0f);
  const int64_t kvh = h / g.group, q_ld = g.H * g.D, kv_ld = g.Hkv * g.D;
  const int64_t rows = std::min(kQueryTile, g.Tq - i0), rows_p = round_up(rows, kTileRows);
  const int64_t q_cols = round_up(rows, kTileLanes<T>);
  // Queries are scaled once here rather than every score.
  load_transposed(t.qt.data(), kQueryTile, q + g.q_row(b, i0, h), q_ld, rows, q_cols, g.D,
                  T(o.scale));
  std::fill(t.o.begin(), t.o.begin() + rows_p * g.Dp, T(0));
  std::fill(t.m.begin(), t.m.end(), kNegInf);
  std::fill(t.l.begin(), t.l.end(), T(0));
  T *m = t.m.data(), *l = t.l.data(), *tile_max = t.tile_max.data(), *rescale = t.rescale.data();
  // The tile's last query sees keys up to i0 + rows - 1 + offset.
  for (int64_t j0 = 0; j0 < i0 + rows + g.offset; j0 += kKeyTile) {
    const int64_t cols = std::min(kKeyTile, g.Tk - j0), cols_r = round_up(cols, kTileRows);
    load_rows(t.k.data(), k + g.kv_row(b, j0, kvh), kv_ld, cols, cols_r, g.D, g.Dp, T(1));
    load_rows(t.v.data(), v + g.kv_row(b, j0, kvh), kv_ld, cols, cols, g.D, g.Dp, T(1));
    // st (cols_r, q_cols) = k (scale q)^T
    tile_gemm(t.st.data(), kQueryTile, t.k.data(), g.Dp, 1, t.qt.data(), kQueryTile, cols_r, q_cols,
              g.D, false);
    // Key j0 + jj is visible to the queries from column first(jj) = j0 + jj - offset - i0 on.
    std::fill(tile_max, tile_max + q_cols, kNegInf);
    for (int64_t jj = 0; jj < cols; ++jj) {
      const int64_t first = j0 + jj - g.offset - i0;
      const T* s = t.st.data() + jj * kQueryTile;
#pragma omp simd
      for (int64_t ii = 0; ii < q_cols; ++ii) {
        const T x = ii >= first ? s[ii] : kNegInf;
        tile_max[ii] = x > tile_max[ii] ? x : tile_max[ii];
      }
    }
    // A query that sees none of this tile keeps its max (factor 1); on its first keys m = -inf
    // and the factor is 0 (its sum and output are still 0).
#pragma omp simd
    for (int64_t ii = 0; ii < q_cols; ++ii) {
      const T m_new = tile_max[ii] > m[ii] ? tile_max[ii] : m[ii];
      rescale[ii] = m_new == m[ii] ? T(1) : m[ii] == kNegInf ? T(0) : vec_exp(m[ii] - m_new);
      m[ii] = m_new;
      l[ii] *= rescale[ii];
    }
    for (int64_t jj = 0; jj < cols; ++jj) {
      const int64_t first = j0 + jj - g.offset - i0;
      T* w = t.st.data() + jj * kQueryTile;
#pragma omp simd
      for (int64_t ii = 0; ii < q_cols; ++ii) {
        const T e = ii >= first ? vec_exp(w[ii] - m[ii]) : T(0);
        w[ii] = e;
        l[ii] += e;
      }
    }
    for (int64_t r = 0; r < rows; ++r)
      if (rescale[r] != T(1)) {
        T* orow = t.o.data() + r * g.Dp;
        for (int64_t c = 0; c < g.Dp; ++c)
          orow[c] *= rescale[r];
      }
    // The sums l are of the weights before dropout: dropout applies to the normalised softmax.
    if (o.dropout > 0.0f) {
      // f (cols, kQueryTile): key jj steps the mask index by 1, query ii by Tk.
      dropout_factors(t.f.data(), kQueryTile, cols, rows, g.mask_index(b, h, i0, j0), 1, g.Tk, o);
      for (int64_t jj = 0; jj < cols; ++jj) {
        T* w = t.st.data() + jj * kQueryTile;
        const T* f = t.f.data() + jj * kQueryTile;
#pragma omp simd
        for (int64_t ii = 0; ii < rows; ++ii)
          w[ii] *= f[ii];
      }
    }
    // o (rows_p, Dp) += st^T (rows_p, cols) v (cols, Dp)
    tile_gemm(t.o.data(), g.Dp, t.st.data(), 1, kQueryTile, t.v.data(), g.Dp, rows_p, g.Dp, cols,
              true);
  }
  for (int64_t r = 0; r < rows; ++r) {
    store_rows(out + g.q_row(b, i0 + r, h), q_ld, t.o.data() + r * g.Dp, 1, g.D, g.Dp, T(1) / l[r]);
    lse[(b * g.H + h) * g.Tq + i0 + r] = m[r] + std::log(l[r]);
  }
}

// The backward keeps score tiles as (queries, keys): each row's lse and D_i are then scalars
// (measured faster here than the forward's transposed layout, which needs them as vectors).
template <typename T>
struct BackwardTiles {
  std::vector<T> kt, vt;   // (D, kKeyTile) keys and values of the key tile, transposed
  std::vector<T> k;        // (kKeyTile, Dp) keys
  std::vector<T> q, dout;  // (kQueryTile, Dp) scaled queries, output gradient
  std::vector<T> w;        // (kQueryTile, kKeyTile) softmax weights P
  std::vector<T> wm;       // (kQueryTile, kKeyTile) dropout factors, then P times them
  std::vector<T> ds;       // (kQueryTile, kKeyTile) dout v^T, then the score gradient dS
  std::vector<T> dk, dv;   // (kKeyTile, Dp) gradients of the key tile over the group and queries
  std::vector<T> dq;       // (group, Tq rounded up to kTileRows, Dp) dq / scale of the group
  std::vector<T> delta;    // (group, Tq) rowsum(dout * out)
};

template <typename T>
BackwardTiles<T>& backward_tiles(const Geometry& g, bool dropout) {
  thread_local BackwardTiles<T> t;
  for (std::vector<T>* x : {&t.kt, &t.vt})
    x->resize(g.D * kKeyTile);
  for (std::vector<T>* x : {&t.k, &t.dk, &t.dv})
    x->resize(kKeyTile * g.Dp);
  for (std::vector<T>* x : {&t.q, &t.dout})
    x->resize(kQueryTile * g.Dp);
  for (std::vector<T>* x : {&t.w, &t.ds})
    x->resize(kQueryTile * kKeyTile);
  if (dropout) t.wm.resize(kQueryTile * kKeyTile);
  t.dq.resize(g.group * round_up(g.Tq, kTileRows) * g.Dp);
  t.delta.resize(g.group * g.Tq);
  return t;
}

// The gradients that flow through key/value head kvh of batch b: dk and dv of its keys, and dq
// of the query heads that read it. Key tiles run in order; for each, every query tile that sees
// it, head by head, recomputes the weights from q, k and lse and adds its share (Dao 2023,
// Algorithm 2). With m the dropout factor and w = P m the applied weights:
//   dv_j += sum_i w_ij dout_i,   dS_ij = P_ij (m_ij dout_i . v_j - D_i),
//   D_i = dout_i . out_i = sum_j P_ij m_ij dout_i . v_j   (the softmax Jacobian's row term),
//   dq_i += scale sum_j dS_ij k_j,   dk_j += scale sum_i dS_ij q_i.
// Only this call writes these rows, always in the same order.
template <typename T>
void backward_kv_head(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v,
                      const T* out, const T* lse, const Geometry& g, const AttentionOptions& o,
                      int64_t b, int64_t kvh) {
  const bool dropout = o.dropout > 0.0f;
  const T scale = T(o.scale);
  BackwardTiles<T>& t = backward_tiles<T>(g, dropout);
  const int64_t q_ld = g.H * g.D, kv_ld = g.Hkv * g.D, Tq_p = round_up(g.Tq, kTileRows);
  for (int64_t hh = 0; hh < g.group; ++hh) {
    const int64_t h = kvh * g.group + hh;
    for (int64_t i = 0; i < g.Tq; ++i)
      t.delta[hh * g.Tq + i] = dot(dout + g.q_row(b, i, h), out + g.q_row(b, i, h), g.D);
  }
  std::fill(t.dq.begin(), t.dq.end(), T(0));
  for (int64_t j0 = 0; j0 < g.Tk; j0 += kKeyTile) {
    const int64_t cols = std::min(kKeyTile, g.Tk - j0), cols_p = round_up(cols, kTileLanes<T>);
    const int64_t cols_r = round_up(cols, kTileRows);
    const T* kj = k + g.kv_row(b, j0, kvh);
    const T* vj = v + g.kv_row(b, j0, kvh);
    load_transposed(t.kt.data(), kKeyTile, kj, kv_ld, cols, cols_p, g.D, T(1));
    load_transposed(t.vt.data(), kKeyTile, vj, kv_ld, cols, cols_p, g.D, T(1));
    load_rows(t.k.data(), kj, kv_ld, cols, cols, g.D, g.Dp, T(1));
    std::fill(t.dk.begin(), t.dk.begin() + cols_r * g.Dp, T(0));
    std::fill(t.dv.begin(), t.dv.begin() + cols_r * g.Dp, T(0));
    // Query i sees key j0 from i = j0 - offset on.
    const int64_t first = std::max<int64_t>(0, j0 - g.offset) / kQueryTile * kQueryTile;
    for (int64_t hh = 0; hh < g.group; ++hh) {
      const int64_t h = kvh * g.group + hh;
      for (int64_t i0 = first; i0 < g.Tq; i0 += kQueryTile) {
        const int64_t rows = std::min(kQueryTile, g.Tq - i0), rows_p = round_up(rows, kTileRows);
        load_rows(t.q.data(), q + g.q_row(b, i0, h), q_ld, rows, rows_p, g.D, g.Dp, scale);
        load_rows(t.dout.data(), dout + g.q_row(b, i0, h), q_ld, rows, rows_p, g.D, g.Dp, T(1));
        // The forward's scores, bit for bit: each is the same chain of fused multiply-adds
        // over d (the forward computes the transposed tile), and dout v^T.
        tile_gemm(t.w.data(), kKeyTile, t.q.data(), g.Dp, 1, t.kt.data(), kKeyTile, rows_p, cols_p,
                  g.D, false);
        tile_gemm(t.ds.data(), kKeyTile, t.dout.data(), g.Dp, 1, t.vt.data(), kKeyTile, rows_p,
                  cols_p, g.D, false);
        if (dropout)  // wm (rows, kKeyTile)
          dropout_factors(t.wm.data(), kKeyTile, rows, cols, g.mask_index(b, h, i0, j0), g.Tk, 1,
                          o);
        for (int64_t r = 0; r < rows_p; ++r) {
          T* w = t.w.data() + r * kKeyTile;
          T* ds = t.ds.data() + r * kKeyTile;
          T* wm = dropout ? t.wm.data() + r * kKeyTile : w;
          if (r >= rows) {  // padded rows add nothing
            std::fill(w, w + cols_p, T(0));
            std::fill(wm, wm + cols_p, T(0));
            std::fill(ds, ds + cols_p, T(0));
            continue;
          }
          const int64_t i = i0 + r;
          const int64_t visible = std::clamp<int64_t>(i + g.offset - j0 + 1, 0, cols);
          const T row_lse = lse[(b * g.H + h) * g.Tq + i], delta = t.delta[hh * g.Tq + i];
#pragma omp simd
          for (int64_t j = 0; j < cols_p; ++j)
            w[j] = j < visible ? vec_exp(w[j] - row_lse) : T(0);
          if (dropout) {
#pragma omp simd
            for (int64_t j = 0; j < cols_p; ++j)
              wm[j] *= w[j];
          }
          // dS = P (m dP - D) = wm dP - P D
#pragma omp simd
          for (int64_t j = 0; j < cols_p; ++j)
            ds[j] = wm[j] * ds[j] - w[j] * delta;
        }
        const T* wm = dropout ? t.wm.data() : t.w.data();
        // dv (cols_r, Dp) += wm^T (cols_r, rows) dout (rows, Dp)
        tile_gemm(t.dv.data(), g.Dp, wm, 1, kKeyTile, t.dout.data(), g.Dp, cols_r, g.Dp, rows,
                  true);
        // dk (cols_r, Dp) += dS^T (cols_r, rows) (scale q) (rows, Dp)
        tile_gemm(t.dk.data(), g.Dp, t.ds.data(), 1, kKeyTile, t.q.data(), g.Dp, cols_r, g.Dp, rows,
                  true);
        // dq / scale (rows_p, Dp) += dS (rows_p, cols) k (cols, Dp)
        tile_gemm(t.dq.data() + (hh * Tq_p + i0) * g.Dp, g.Dp, t.ds.data(), kKeyTile, 1, t.k.data(),
                  g.Dp, rows_p, g.Dp, cols, true);
      }
    }
    store_rows(dk + g.kv_row(b, j0, kvh), kv_ld, t.dk.data(), cols, g.D, g.Dp, T(1));
    store_rows(dv + g.kv_row(b, j0, kvh), kv_ld, t.dv.data(), cols, g.D, g.Dp, T(1));
  }
  for (int64_t hh = 0; hh < g.group; ++hh) {
    const int64_t h = kvh * g.group + hh;
    store_rows(dq + g.q_row(b, 0, h), q_ld, t.dq.data() + hh * Tq_p * g.Dp, g.Tq, g.D, g.Dp, scale);
  }
}

}  // namespace

// Work items are (batch, head, query tile), each computed whole by one thread, so the results
// do not depend on the thread count. Later query tiles see more keys and go first (longest
// first on the dynamic schedule).
template <typename T>
void attention_forward(T* out, T* lse, const T* q, const T* k, const T* v,
                       const AttentionDims& dims, const AttentionOptions& options) {
  const Geometry g = make_geometry<T>(dims);
  const int64_t tiles = (g.Tq + kQueryTile - 1) / kQueryTile, heads = g.B * g.H;
#pragma omp parallel for schedule(dynamic, 1) if (g.work() >= kParallelMinWork)
  for (int64_t item = 0; item < heads * tiles; ++item) {
    const int64_t tile = tiles - 1 - item / heads, bh = item % heads;
    forward_query_tile(out, lse, q, k, v, g, options, bh / g.H, bh % g.H, tile * kQueryTile);
  }
}

// Work items are (batch, key/value head): each owns its dk and dv rows and the dq rows of its
// query heads, so nothing is shared between threads and every sum runs in one fixed order.
template <typename T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v,
                        const T* out, const T* lse, const AttentionDims& dims,
                        const AttentionOptions& options) {
  const Geometry g = make_geometry<T>(dims);
#pragma omp parallel for schedule(dynamic, 1) if (g.work() >= kParallelMinWork)
  for (int64_t item = 0; item < g.B * g.Hkv; ++item)
    backward_kv_head(dq, dk, dv, dout, q, k, v, out, lse, g, options, item / g.Hkv, item % g.Hkv);
}

template void attention_forward<float>(float*, float*, const float*, const float*, const float*,
                                       const AttentionDims&, const AttentionOptions&);
template void attention_forward<double>(double*, double*, const double*, const double*,
                                        const double*, const AttentionDims&,
                                        const AttentionOptions&);
template void attention_backward<float>(float*, float*, float*, const float*, const float*,
                                        const float*, const float*, const float*, const float*,
                                        const AttentionDims&, const AttentionOptions&);
template void attention_backward<double>(double*, double*, double*, const double*, const double*,
                                         const double*, const double*, const double*, const double*,
                                         const AttentionDims&, const AttentionOptions&);

namespace {

// q (B, Tq, H, D), k (B, Tk, Hkv, D), as checked by the ops layer.
AttentionDims dims_of(const Tensor& q, const Tensor& k) {
  return {q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3)};
}

AttentionOptions options_of(const AttentionArgs& args) {
  return {args.scale, args.dropout, args.dropout_key};
}

}  // namespace

void attention_forward(Tensor out, Tensor lse, const Tensor& q, const Tensor& k, const Tensor& v,
                       const AttentionArgs& args) {
  for_dtype(q.dtype, [&]<typename T>(T) {
    attention_forward<T>(data<T>(out), data<T>(lse), data<T>(q), data<T>(k), data<T>(v),
                         dims_of(q, k), options_of(args));
  });
}

void attention_backward(Tensor dq, Tensor dk, Tensor dv, const Tensor& dout, const Tensor& q,
                        const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                        const AttentionArgs& args) {
  for_dtype(q.dtype, [&]<typename T>(T) {
    attention_backward<T>(data<T>(dq), data<T>(dk), data<T>(dv), data<T>(dout), data<T>(q),
                          data<T>(k), data<T>(v), data<T>(out), data<T>(lse), dims_of(q, k),
                          options_of(args));
  });
}

}  // namespace moe::cpu
