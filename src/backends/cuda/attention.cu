#include "backends/cuda/attention.h"

#include <cmath>

#include "backends/cuda/check.h"
#include "backends/cuda/reduce.h"
#include "backends/cuda/tensor_data.h"
#include "core/rng.h"

namespace moe::cuda {
namespace {

// Every block has 128 threads and works on tiles of `tile` queries x `tile` keys held in shared
// memory (rows of D values with stride D + 1, so threads reading the same column of consecutive
// rows hit different banks). The tile is the largest of 32, 16, ..., 1 whose buffers fit the
// device's shared memory, so any head size runs (large ones with smaller tiles).
constexpr int kAttentionThreads = 128;
constexpr int kMaxTile = 32;

// Sizes of one call, its options and the index arithmetic on its buffers.
struct Geometry {
  int64_t B, Tq, Tk, H, Hkv, D;
  int64_t group;   // query heads per key/value head
  int64_t offset;  // Tk - Tq: query i is position i + offset and sees keys j <= i + offset
  int tile;        // queries and keys per tile
  float scale;     // multiplies q.k
  bool dropout;
  float keep_scale;    // 1 / (1 - p), the factor of a kept weight
  uint32_t threshold;  // dropout_threshold(p)
  uint64_t key;        // rng key of the dropout mask

  __device__ int64_t ld() const { return D + 1; }
  // Start of row (b, i, h) in q, out, dout, dq.
  __device__ int64_t q_row(int64_t b, int64_t i, int64_t h) const {
    return ((b * Tq + i) * H + h) * D;
  }
  // Start of row (b, j, g) in k, v, dk, dv.
  __device__ int64_t kv_row(int64_t b, int64_t j, int64_t g) const {
    return ((b * Tk + j) * Hkv + g) * D;
  }
  // The factor dropout applies to weight (b, h, i, j): its index in the (B, H, Tq, Tk) numbering
  // of the mask, as in backends/cpu/attention.cpp.
  __device__ float dropout_factor(int64_t b, int64_t h, int64_t i, int64_t j) const {
    const uint64_t index = static_cast<uint64_t>(((b * H + h) * Tq + i) * Tk + j);
    return rng_keep(key, index, threshold) ? keep_scale : 0.0f;
  }
};

// dst (tile, ld) = s * rows of src (row stride src_ld, D values each); rows past `rows` are 0.
__device__ void load_rows(float* dst, const float* src, int64_t src_ld, int rows, const Geometry& g,
                          float s) {
  for (int64_t idx = threadIdx.x; idx < g.tile * g.D; idx += blockDim.x) {
    const int64_t r = idx / g.D, c = idx % g.D;
    dst[r * g.ld() + c] = r < rows ? s * src[r * src_ld + c] : 0.0f;
  }
}

__device__ void fill(float* dst, int64_t n, float value) {
  for (int64_t idx = threadIdx.x; idx < n; idx += blockDim.x)
    dst[idx] = value;
}

// a . b over D values, in order.
__device__ float dot(const float* a, const float* b, int64_t D) {
  float s = 0.0f;
  for (int64_t d = 0; d < D; ++d)
    s += a[d] * b[d];
  return s;
}

// delta (rows) = rowsum(dout * out) of the query rows i0.. of head h (the softmax Jacobian's row
// term D_i): one warp per row, lanes over the head dimension, combined by warp_sum.
__device__ void row_deltas(float* delta, const float* dout, const float* out, const Geometry& g,
                           int64_t b, int64_t h, int64_t i0, int rows) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  for (int r = warp; r < rows; r += blockDim.x / kWarpSize) {
    const int64_t row = g.q_row(b, i0 + r, h);
    float s = 0.0f;
    for (int64_t d = lane; d < g.D; d += kWarpSize)
      s += dout[row + d] * out[row + d];
    s = warp_sum(s);
    if (lane == 0) delta[r] = s;
  }
}

// Forward: a block per (query tile, head, batch). For each visible key tile: scores (one thread
// per score), the online softmax (Milakov & Gimelshein 2018; one thread per query row: raise the
// running max m, rescale the earlier sum l and output by exp(m_old - m_new), add exp(s - m)),
// dropout on the weights, then o += P v (one thread per output element). At the end
// out = o / l and lse = m + log(l).
// out (B, Tq, H, D), lse (B, H, Tq), q (B, Tq, H, D), k, v (B, Tk, Hkv, D).
__global__ void forward_kernel(float* out, float* lse, const float* q, const float* k,
                               const float* v, Geometry g) {
  extern __shared__ float shared[];
  const int T = g.tile;
  const int64_t ld = g.ld();
  float* qs = shared;       // (T, ld) scaled queries
  float* ks = qs + T * ld;  // (T, ld) keys
  float* vs = ks + T * ld;  // (T, ld) values
  float* os = vs + T * ld;  // (T, ld) output before the division by the sums
  float* s = os + T * ld;   // (T, T) scores, then weights
  float* m = s + T * T;     // (T) running max
  float* l = m + T;         // (T) running sum of exponentials (before dropout)
  float* rescale = l + T;   // (T) factor of the earlier terms
  const int64_t b = blockIdx.z, h = blockIdx.y, i0 = int64_t{blockIdx.x} * T;
  const int64_t kvh = h / g.group;
  const int rows = static_cast<int>(min(int64_t{T}, g.Tq - i0));
  load_rows(qs, q + g.q_row(b, i0, h), g.H * g.D, rows, g, g.scale);
  fill(os, T * ld, 0.0f);
  fill(m, T, -INFINITY);
  fill(l, T, 0.0f);
  // The tile's last query sees keys up to i0 + rows - 1 + offset.
  const int64_t key_end = min(g.Tk, i0 + rows + g.offset);
  for (int64_t j0 = 0; j0 < key_end; j0 += T) {
    const int cols = static_cast<int>(min(int64_t{T}, g.Tk - j0));
    __syncthreads();  // the previous tile's keys, values and weights are used up
    load_rows(ks, k + g.kv_row(b, j0, kvh), g.Hkv * g.D, cols, g, 1.0f);
    load_rows(vs, v + g.kv_row(b, j0, kvh), g.Hkv * g.D, cols, g, 1.0f);
    __syncthreads();
    for (int idx = threadIdx.x; idx < T * T; idx += blockDim.x) {
      const int ii = idx / T, jj = idx % T;
      const bool visible = ii < rows && jj < cols && j0 + jj <= i0 + ii + g.offset;
      s[idx] = visible ? dot(qs + ii * ld, ks + jj * ld, g.D) : -INFINITY;
    }
    __syncthreads();
    for (int ii = threadIdx.x; ii < rows; ii += blockDim.x) {
      float* row = s + ii * T;
      float tile_max = -INFINITY;
      for (int jj = 0; jj < cols; ++jj)
        tile_max = fmaxf(tile_max, row[jj]);
      // A query that sees none of this tile keeps its max (factor 1); on its first keys
      // m = -inf and the factor is 0 (its sum and output are still 0).
      const float m_old = m[ii], m_new = fmaxf(tile_max, m_old);
      const float r = m_new == m_old ? 1.0f : m_old == -INFINITY ? 0.0f : expf(m_old - m_new);
      float sum = l[ii] * r;
      for (int jj = 0; jj < cols; ++jj) {
        const float e = row[jj] == -INFINITY ? 0.0f : expf(row[jj] - m_new);
        sum += e;
        row[jj] = g.dropout ? e * g.dropout_factor(b, h, i0 + ii, j0 + jj) : e;
      }
      m[ii] = m_new;
      l[ii] = sum;
      rescale[ii] = r;
    }
    __syncthreads();
    for (int64_t idx = threadIdx.x; idx < rows * g.D; idx += blockDim.x) {
      const int64_t ii = idx / g.D, d = idx % g.D;
      float acc = os[ii * ld + d] * rescale[ii];
      for (int jj = 0; jj < cols; ++jj)
        acc += s[ii * T + jj] * vs[jj * ld + d];
      os[ii * ld + d] = acc;
    }
  }
  __syncthreads();
  for (int64_t idx = threadIdx.x; idx < rows * g.D; idx += blockDim.x) {
    const int64_t ii = idx / g.D, d = idx % g.D;
    out[g.q_row(b, i0 + ii, h) + d] = os[ii * ld + d] * (1.0f / l[ii]);
  }
  for (int ii = threadIdx.x; ii < rows; ii += blockDim.x)
    lse[(b * g.H + h) * g.Tq + i0 + ii] = m[ii] + logf(l[ii]);
}

// The weights of one (query tile, key tile) pair recomputed from the scaled queries qs, keys ks
// and each row's lse (one thread per entry): with P = exp(s - lse), dropout factor f and
// dP = dout . v, the applied weights p = P f (skipped when p is null) and the score gradient
// ds = P (f dP - D_i) (Dao 2023, Algorithm 2). Entries no query sees are 0.
// p, ds (T, T); qs, dos, ks, vs (T, ld); row_lse, delta (T).
__device__ void weight_grads(float* p, float* ds, const float* qs, const float* dos,
                             const float* ks, const float* vs, const float* row_lse,
                             const float* delta, const Geometry& g, int64_t b, int64_t h,
                             int64_t i0, int rows, int64_t j0, int cols) {
  const int T = g.tile;
  const int64_t ld = g.ld();
  for (int idx = threadIdx.x; idx < T * T; idx += blockDim.x) {
    const int ii = idx / T, jj = idx % T;
    float applied = 0.0f, grad = 0.0f;
    if (ii < rows && jj < cols && j0 + jj <= i0 + ii + g.offset) {
      const float w = expf(dot(qs + ii * ld, ks + jj * ld, g.D) - row_lse[ii]);
      const float dp = dot(dos + ii * ld, vs + jj * ld, g.D);
      applied = g.dropout ? w * g.dropout_factor(b, h, i0 + ii, j0 + jj) : w;
      grad = applied * dp - w * delta[ii];
    }
    if (p) p[idx] = applied;
    ds[idx] = grad;
  }
}

// Loads the query tile i0.. of head h for the backward: scaled queries, dout, lse and D_i.
// qs, dos (T, ld); row_lse, delta (T).
__device__ void load_query_tile(float* qs, float* dos, float* row_lse, float* delta, const float* q,
                                const float* dout, const float* out, const float* lse,
                                const Geometry& g, int64_t b, int64_t h, int64_t i0, int rows) {
  load_rows(qs, q + g.q_row(b, i0, h), g.H * g.D, rows, g, g.scale);
  load_rows(dos, dout + g.q_row(b, i0, h), g.H * g.D, rows, g, 1.0f);
  for (int ii = threadIdx.x; ii < rows; ii += blockDim.x)
    row_lse[ii] = lse[(b * g.H + h) * g.Tq + i0 + ii];
  row_deltas(delta, dout, out, g, b, h, i0, rows);
}

// dk and dv: a block per (key tile, key/value head, batch) owns those rows of dk and dv and runs
// over the query heads of its group and, for each, the query tiles that see the key tile, in
// order, adding dv_j += sum_i p_ij dout_i and dk_j += sum_i ds_ij (scale q_i) (one thread per
// element of the tile's dk and dv).
// dk, dv (B, Tk, Hkv, D); dout, q, out (B, Tq, H, D); k, v (B, Tk, Hkv, D); lse (B, H, Tq).
__global__ void key_grad_kernel(float* dk, float* dv, const float* dout, const float* q,
                                const float* k, const float* v, const float* out, const float* lse,
                                Geometry g) {
  extern __shared__ float shared[];
  const int T = g.tile;
  const int64_t ld = g.ld();
  float* ks = shared;           // (T, ld) keys
  float* vs = ks + T * ld;      // (T, ld) values
  float* dks = vs + T * ld;     // (T, ld) dk of the key tile
  float* dvs = dks + T * ld;    // (T, ld) dv of the key tile
  float* qs = dvs + T * ld;     // (T, ld) scaled queries
  float* dos = qs + T * ld;     // (T, ld) output gradient
  float* p = dos + T * ld;      // (T, T) applied weights
  float* ds = p + T * T;        // (T, T) score gradient
  float* row_lse = ds + T * T;  // (T)
  float* delta = row_lse + T;   // (T)
  const int64_t b = blockIdx.z, kvh = blockIdx.y, j0 = int64_t{blockIdx.x} * T;
  const int cols = static_cast<int>(min(int64_t{T}, g.Tk - j0));
  load_rows(ks, k + g.kv_row(b, j0, kvh), g.Hkv * g.D, cols, g, 1.0f);
  load_rows(vs, v + g.kv_row(b, j0, kvh), g.Hkv * g.D, cols, g, 1.0f);
  fill(dks, T * ld, 0.0f);
  fill(dvs, T * ld, 0.0f);
  // Query i sees key j0 from i = j0 - offset on.
  const int64_t first = max(int64_t{0}, j0 - g.offset) / T * T;
  for (int64_t hh = 0; hh < g.group; ++hh) {
    const int64_t h = kvh * g.group + hh;
    for (int64_t i0 = first; i0 < g.Tq; i0 += T) {
      const int rows = static_cast<int>(min(int64_t{T}, g.Tq - i0));
      __syncthreads();  // the previous query tile is used up
      load_query_tile(qs, dos, row_lse, delta, q, dout, out, lse, g, b, h, i0, rows);
      __syncthreads();
      weight_grads(p, ds, qs, dos, ks, vs, row_lse, delta, g, b, h, i0, rows, j0, cols);
      __syncthreads();
      for (int64_t idx = threadIdx.x; idx < cols * g.D; idx += blockDim.x) {
        const int64_t jj = idx / g.D, d = idx % g.D;
        float acc_v = dvs[jj * ld + d], acc_k = dks[jj * ld + d];
        for (int ii = 0; ii < rows; ++ii) {
          acc_v += p[ii * T + jj] * dos[ii * ld + d];
          acc_k += ds[ii * T + jj] * qs[ii * ld + d];
        }
        dvs[jj * ld + d] = acc_v;
        dks[jj * ld + d] = acc_k;
      }
    }
  }
  __syncthreads();
  for (int64_t idx = threadIdx.x; idx < cols * g.D; idx += blockDim.x) {
    const int64_t jj = idx / g.D, d = idx % g.D;
    dk[g.kv_row(b, j0 + jj, kvh) + d] = dks[jj * ld + d];
    dv[g.kv_row(b, j0 + jj, kvh) + d] = dvs[jj * ld + d];
  }
}

// dq: a block per (query tile, head, batch) owns those rows of dq and runs over the visible key
// tiles in order, adding dq_i += sum_j ds_ij k_j (one thread per element), then scales by
// `scale` as it stores.
// dq, dout, q, out (B, Tq, H, D); k, v (B, Tk, Hkv, D); lse (B, H, Tq).
__global__ void query_grad_kernel(float* dq, const float* dout, const float* q, const float* k,
                                  const float* v, const float* out, const float* lse, Geometry g) {
  extern __shared__ float shared[];
  const int T = g.tile;
  const int64_t ld = g.ld();
  float* qs = shared;           // (T, ld) scaled queries
  float* dos = qs + T * ld;     // (T, ld) output gradient
  float* ks = dos + T * ld;     // (T, ld) keys
  float* vs = ks + T * ld;      // (T, ld) values
  float* dqs = vs + T * ld;     // (T, ld) dq / scale of the query tile
  float* ds = dqs + T * ld;     // (T, T) score gradient
  float* row_lse = ds + T * T;  // (T)
  float* delta = row_lse + T;   // (T)
  const int64_t b = blockIdx.z, h = blockIdx.y, i0 = int64_t{blockIdx.x} * T;
  const int64_t kvh = h / g.group;
  const int rows = static_cast<int>(min(int64_t{T}, g.Tq - i0));
  load_query_tile(qs, dos, row_lse, delta, q, dout, out, lse, g, b, h, i0, rows);
  fill(dqs, T * ld, 0.0f);
  const int64_t key_end = min(g.Tk, i0 + rows + g.offset);
  for (int64_t j0 = 0; j0 < key_end; j0 += T) {
    const int cols = static_cast<int>(min(int64_t{T}, g.Tk - j0));
    __syncthreads();  // the previous key tile is used up
    load_rows(ks, k + g.kv_row(b, j0, kvh), g.Hkv * g.D, cols, g, 1.0f);
    load_rows(vs, v + g.kv_row(b, j0, kvh), g.Hkv * g.D, cols, g, 1.0f);
    __syncthreads();
    weight_grads(nullptr, ds, qs, dos, ks, vs, row_lse, delta, g, b, h, i0, rows, j0, cols);
    __syncthreads();
    for (int64_t idx = threadIdx.x; idx < rows * g.D; idx += blockDim.x) {
      const int64_t ii = idx / g.D, d = idx % g.D;
      float acc = dqs[ii * ld + d];
      for (int jj = 0; jj < cols; ++jj)
        acc += ds[ii * T + jj] * ks[jj * ld + d];
      dqs[ii * ld + d] = acc;
    }
  }
  __syncthreads();
  for (int64_t idx = threadIdx.x; idx < rows * g.D; idx += blockDim.x) {
    const int64_t ii = idx / g.D, d = idx % g.D;
    dq[g.q_row(b, i0 + ii, h) + d] = g.scale * dqs[ii * ld + d];
  }
}

// Shared memory, in floats, of each kernel for tiles of T rows of stride ld.
int64_t forward_floats(int64_t T, int64_t ld) {
  return 4 * T * ld + T * T + 3 * T;
}
int64_t key_grad_floats(int64_t T, int64_t ld) {
  return 6 * T * ld + 2 * T * T + 2 * T;
}
int64_t query_grad_floats(int64_t T, int64_t ld) {
  return 5 * T * ld + T * T + 2 * T;
}

// The most shared memory a block may have on this device; the kernels are allowed all of it
// (beyond the 48 KiB a launch gets without asking).
int64_t shared_limit() {
  static const int64_t limit = [] {
    int device = 0, bytes = 0;
    MOE_CUDA_CHECK(cudaGetDevice(&device));
    MOE_CUDA_CHECK(cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    for (const void* kernel : {reinterpret_cast<const void*>(forward_kernel),
                               reinterpret_cast<const void*>(key_grad_kernel),
                               reinterpret_cast<const void*>(query_grad_kernel)})
      MOE_CUDA_CHECK(
          cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
    return int64_t{bytes};
  }();
  return limit;
}

// q (B, Tq, H, D), k (B, Tk, Hkv, D), as checked by the ops layer; the tile is the largest whose
// backward buffers (the largest of the three kernels') fit the device.
Geometry geometry_of(const char* op, const Tensor& q, const Tensor& k, const AttentionArgs& args) {
  Geometry g{};
  g.B = q.size(0);
  g.Tq = q.size(1);
  g.H = q.size(2);
  g.D = q.size(3);
  g.Tk = k.size(1);
  g.Hkv = k.size(2);
  g.group = g.H / g.Hkv;
  g.offset = g.Tk - g.Tq;
  g.scale = args.scale;
  g.dropout = args.dropout > 0.0f;
  g.keep_scale = 1.0f / (1.0f - args.dropout);
  g.threshold = dropout_threshold(args.dropout);
  g.key = args.dropout_key;
  const int64_t floats = shared_limit() / static_cast<int64_t>(sizeof(float));
  g.tile = kMaxTile;
  while (g.tile > 1 && key_grad_floats(g.tile, g.D + 1) > floats)
    g.tile /= 2;
  MOE_CHECK(key_grad_floats(g.tile, g.D + 1) <= floats, op, ": head size ", g.D,
            " is too large for the CUDA attention kernels' shared memory");
  return g;
}

dim3 query_grid(const Geometry& g) {
  return dim3(static_cast<unsigned>((g.Tq + g.tile - 1) / g.tile), static_cast<unsigned>(g.H),
              static_cast<unsigned>(g.B));
}

size_t shared_bytes(int64_t floats) {
  return static_cast<size_t>(floats) * sizeof(float);
}

}  // namespace

void attention_forward(Tensor out, Tensor lse, const Tensor& q, const Tensor& k, const Tensor& v,
                       const AttentionArgs& args) {
  if (lse.numel() == 0) return;  // no query, nothing to write
  const Geometry g = geometry_of("attention_forward", q, k, args);
  forward_kernel<<<query_grid(g), kAttentionThreads,
                   shared_bytes(forward_floats(g.tile, g.D + 1))>>>(
      data<float>(out), data<float>(lse), data<float>(q), data<float>(k), data<float>(v), g);
  MOE_CUDA_CHECK_LAUNCH();
}

void attention_backward(Tensor dq, Tensor dk, Tensor dv, const Tensor& dout, const Tensor& q,
                        const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                        const AttentionArgs& args) {
  if (dk.numel() == 0) return;  // then dq is empty too (Tq <= Tk)
  const Geometry g = geometry_of("attention_backward", q, k, args);
  // Keys no query sees (Tq = 0) still get their zero gradients.
  const dim3 key_grid(static_cast<unsigned>((g.Tk + g.tile - 1) / g.tile),
                      static_cast<unsigned>(g.Hkv), static_cast<unsigned>(g.B));
  key_grad_kernel<<<key_grid, kAttentionThreads, shared_bytes(key_grad_floats(g.tile, g.D + 1))>>>(
      data<float>(dk), data<float>(dv), data<float>(dout), data<float>(q), data<float>(k),
      data<float>(v), data<float>(out), data<float>(lse), g);
  MOE_CUDA_CHECK_LAUNCH();
  if (dq.numel() == 0) return;
  query_grad_kernel<<<query_grid(g), kAttentionThreads,
                      shared_bytes(query_grad_floats(g.tile, g.D + 1))>>>(
      data<float>(dq), data<float>(dout), data<float>(q), data<float>(k), data<float>(v),
      data<float>(out), data<float>(lse), g);
  MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace moe::cuda
