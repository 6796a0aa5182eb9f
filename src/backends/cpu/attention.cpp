#include "backends/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

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
  // How many of the `cols` keys from j0 on query i sees (causal: keys j <= i + offset).
  int64_t visible(int64_t i, int64_t j0, int64_t cols) const {
    return std::clamp<int64_t>(i + offset - j0 + 1, 0, cols);
  }
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

// dst (D, kKeyTile): dst[c][r] = src[r * ld + c] for r < rows, 0 for rows <= r < rows_p.
template <typename T>
void load_transposed(T* dst, const T* src, int64_t ld, int64_t rows, int64_t rows_p, int64_t D) {
  for (int64_t c = 0; c < D; ++c) {
    T* d = dst + c * kKeyTile;
    for (int64_t r = 0; r < rows; ++r)
      d[r] = src[r * ld + c];
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

// Multiplies w[j] (j < cols_p) by weight index base + j's dropout factor: 1 / (1 - p) when kept,
// 0 when dropped (core/rng.h KeepMask, the rule of ops::dropout) or at or beyond `visible`.
template <typename T>
void apply_dropout(T* w, const T* x, int64_t visible, int64_t cols_p, uint64_t base, float p,
                   uint64_t key) {
  KeepMask mask(key, p);
  const T kept = T(1) / (T(1) - T(p));
  for (int64_t j = 0; j < cols_p; ++j)
    w[j] = j < visible && mask.keep(base + j) ? x[j] * kept : T(0);
}

// One step of the online softmax (Milakov & Gimelshein 2018) of a query row: w (cols_p) holds
// the scaled scores of a key tile, of which the first `visible` are unmasked. Replaces them by
// exp(s - m) (0 where masked) after raising the running max m to this tile's max, adds them to
// the running sums l (kTileLanes<T>: one per SIMD lane, so no horizontal sum per tile; the lanes
// are added once at the end) and returns exp(m_old - m_new), the factor that rescales what
// earlier tiles added to the row (1 when the max did not grow, the common case).
template <typename T>
T online_softmax_step(T* w, int64_t visible, int64_t cols_p, T& m, T* l) {
  constexpr int64_t L = kTileLanes<T>;
  T tile_max = -std::numeric_limits<T>::infinity();
  // A ternary, not std::max: GCC does not vectorise the reduction through references.
#pragma omp simd reduction(max : tile_max)
  for (int64_t j = 0; j < visible; ++j)
    tile_max = w[j] > tile_max ? w[j] : tile_max;
  T rescale = T(1);
  if (tile_max > m) {
    // Every row sees key 0 in its first tile, where m = -inf and the factor is 0 (the sums and
    // the row's output are still 0).
    rescale = m == -std::numeric_limits<T>::infinity() ? T(0) : vec_exp(m - tile_max);
    m = tile_max;
  }
  // A local copy: through the reference the compiler must assume that writing w changes m.
  const T max = m;
  T sums[L];
  for (int64_t k = 0; k < L; ++k)
    sums[k] = l[k] * rescale;
  for (int64_t j0 = 0; j0 < cols_p; j0 += L) {
#pragma omp simd
    for (int64_t k = 0; k < L; ++k) {
      const int64_t j = j0 + k;
      const T e = j < visible ? vec_exp(w[j] - max) : T(0);
      w[j] = e;
      sums[k] += e;
    }
  }
  for (int64_t k = 0; k < L; ++k)
    l[k] = sums[k];
  return rescale;
}

// Per-thread tile buffers, kept between calls so that a training step allocates nothing once
// the first has run.
template <typename T>
struct ForwardTiles {
  std::vector<T> q;   // (kQueryTile, Dp) scaled queries
  std::vector<T> kt;  // (D, kKeyTile) keys, transposed
  std::vector<T> v;   // (kKeyTile, Dp) values
  std::vector<T> w;   // (kQueryTile, kKeyTile) scores, then weights
  std::vector<T> o;   // (kQueryTile, Dp) output before the division by the row sums
  std::vector<T> m;   // (kQueryTile) running max of each row
  std::vector<T> l;   // (kQueryTile, kTileLanes) running sum of each row, per SIMD lane
};

template <typename T>
ForwardTiles<T>& forward_tiles(const Geometry& g) {
  thread_local ForwardTiles<T> t;
  t.q.resize(kQueryTile * g.Dp);
  t.kt.resize(g.D * kKeyTile);
  t.v.resize(kKeyTile * g.Dp);
  t.w.resize(kQueryTile * kKeyTile);
  t.o.resize(kQueryTile * g.Dp);
  t.m.resize(kQueryTile);
  t.l.resize(kQueryTile * kTileLanes<T>);
  return t;
}

// Output rows i0 .. i0 + kQueryTile of head h in batch b: one pass over the visible key tiles
// with the online softmax, then out = o / l and lse = m + log(l).
template <typename T>
void forward_query_tile(T* out, T* lse, const T* q, const T* k, const T* v, const Geometry& g,
                        const AttentionOptions& o, int64_t b, int64_t h, int64_t i0) {
  ForwardTiles<T>& t = forward_tiles<T>(g);
  const T scale = T(o.scale);
  const int64_t kvh = h / g.group, q_ld = g.H * g.D, kv_ld = g.Hkv * g.D;
  const int64_t rows = std::min(kQueryTile, g.Tq - i0), rows_p = round_up(rows, kTileRows);
  // The block's last query sees keys up to i0 + rows - 1 + offset.
  const int64_t keys = i0 + rows + g.offset;
  // Queries are scaled once here rather than every score.
  load_rows(t.q.data(), q + g.q_row(b, i0, h), q_ld, rows, rows_p, g.D, g.Dp, scale);
  std::fill(t.o.begin(), t.o.begin() + rows_p * g.Dp, T(0));
  std::fill(t.m.begin(), t.m.end(), -std::numeric_limits<T>::infinity());
  std::fill(t.l.begin(), t.l.end(), T(0));
  for (int64_t j0 = 0; j0 < keys; j0 += kKeyTile) {
    const int64_t cols = std::min(kKeyTile, g.Tk - j0), cols_p = round_up(cols, kTileLanes<T>);
    load_transposed(t.kt.data(), k + g.kv_row(b, j0, kvh), kv_ld, cols, cols_p, g.D);
    load_rows(t.v.data(), v + g.kv_row(b, j0, kvh), kv_ld, cols, cols, g.D, g.Dp, T(1));
    // w (rows_p, cols_p) = (scale q) k^T; padded query rows give 0, which then weighs nothing.
    tile_gemm(t.w.data(), kKeyTile, t.q.data(), g.Dp, 1, t.kt.data(), kKeyTile, rows_p, cols_p, g.D,
              false);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = i0 + r, visible = g.visible(i, j0, cols);
      T* w = t.w.data() + r * kKeyTile;
      const T rescale =
          online_softmax_step(w, visible, cols_p, t.m[r], t.l.data() + r * kTileLanes<T>);
      if (rescale != T(1)) {
        T* o = t.o.data() + r * g.Dp;
        for (int64_t c = 0; c < g.Dp; ++c)
          o[c] *= rescale;
      }
      // The sum l is of the weights before dropout: dropout applies to the normalised softmax.
      if (o.dropout > 0.0f)
        apply_dropout(w, w, visible, cols_p, g.mask_index(b, h, i, j0), o.dropout, o.key);
    }
    // o (rows_p, Dp) += w (rows_p, cols) v (cols, Dp)
    tile_gemm(t.o.data(), g.Dp, t.w.data(), kKeyTile, 1, t.v.data(), g.Dp, rows_p, g.Dp, cols,
              true);
  }
  for (int64_t r = 0; r < rows; ++r) {
    T l = T(0);
    for (int64_t k = 0; k < kTileLanes<T>; ++k)
      l += t.l[r * kTileLanes<T> + k];
    store_rows(out + g.q_row(b, i0 + r, h), q_ld, t.o.data() + r * g.Dp, 1, g.D, g.Dp, T(1) / l);
    lse[(b * g.H + h) * g.Tq + i0 + r] = t.m[r] + std::log(l);
  }
}

template <typename T>
struct BackwardTiles {
  std::vector<T> kt, vt;   // (D, kKeyTile) keys and values of the key tile, transposed
  std::vector<T> k;        // (kKeyTile, Dp) keys
  std::vector<T> q, dout;  // (kQueryTile, Dp) scaled queries, output gradient
  std::vector<T> w;        // (kQueryTile, kKeyTile) softmax weights P
  std::vector<T> wm;       // (kQueryTile, kKeyTile) weights after dropout (only with dropout)
  std::vector<T> ds;       // (kQueryTile, kKeyTile) dout v^T, then the score gradient dS
  std::vector<T> dk, dv;   // (kKeyTile, Dp) gradients of the key tile over the group and queries
  std::vector<T> dq;       // (group, Tq rounded up to kTileRows, Dp) dq / scale of the group
  std::vector<T> delta;    // (group, Tq) rowsum(dout * out)
};

template <typename T>
BackwardTiles<T>& backward_tiles(const Geometry& g, bool dropout) {
  thread_local BackwardTiles<T> t;
  t.kt.resize(g.D * kKeyTile);
  t.vt.resize(g.D * kKeyTile);
  t.k.resize(kKeyTile * g.Dp);
  t.q.resize(kQueryTile * g.Dp);
  t.dout.resize(kQueryTile * g.Dp);
  t.w.resize(kQueryTile * kKeyTile);
  if (dropout) t.wm.resize(kQueryTile * kKeyTile);
  t.ds.resize(kQueryTile * kKeyTile);
  t.dk.resize(kKeyTile * g.Dp);
  t.dv.resize(kKeyTile * g.Dp);
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
    load_transposed(t.kt.data(), kj, kv_ld, cols, cols_p, g.D);
    load_transposed(t.vt.data(), vj, kv_ld, cols, cols_p, g.D);
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
        // The forward's scores, bit for bit (same tiles, same order), and dout v^T.
        tile_gemm(t.w.data(), kKeyTile, t.q.data(), g.Dp, 1, t.kt.data(), kKeyTile, rows_p, cols_p,
                  g.D, false);
        tile_gemm(t.ds.data(), kKeyTile, t.dout.data(), g.Dp, 1, t.vt.data(), kKeyTile, rows_p,
                  cols_p, g.D, false);
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
          const int64_t i = i0 + r, visible = g.visible(i, j0, cols);
          const T row_lse = lse[(b * g.H + h) * g.Tq + i], delta = t.delta[hh * g.Tq + i];
#pragma omp simd
          for (int64_t j = 0; j < cols_p; ++j)
            w[j] = j < visible ? vec_exp(w[j] - row_lse) : T(0);
          if (dropout)
            apply_dropout(wm, w, visible, cols_p, g.mask_index(b, h, i, j0), o.dropout, o.key);
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
    for (int64_t i = 0; i < g.Tq; ++i)
      store_rows(dq + g.q_row(b, i, h), q_ld, t.dq.data() + (hh * Tq_p + i) * g.Dp, 1, g.D, g.Dp,
                 scale);
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

}  // namespace moe::cpu
