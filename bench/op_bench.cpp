// Per-op timings at the makemoe shapes (N = 16 x 32 tokens, C = 128, 8 heads, 8 experts top-2,
// F = 512), with Google Benchmark. Reports GFLOP/s for the GEMM ops so they can be compared with
// bench/sgemm_peak. Run: build/bench/op_bench [--benchmark_filter=REGEX]
#include <benchmark/benchmark.h>

#include <vector>

#include "core/arena.h"
#include "core/rng.h"
#include "ops/adamw.h"
#include "ops/attention.h"
#include "ops/device.h"
#include "ops/elementwise.h"
#include "ops/grouped_gemm.h"
#include "ops/matmul.h"
#include "ops/rmsnorm.h"

namespace {

using namespace moe;
constexpr int64_t kB = 16, kT = 32, kN = kB * kT, kC = 128, kH = 8, kD = 16, kE = 8, kK = 2,
                  kF = 512;

Tensor random_tensor(Arena& arena, Shape shape, uint64_t seed) {
  Tensor t = arena.alloc(shape);
  ops::fill_normal(t, 0.0f, 1.0f, rng_key(seed));
  return t;
}

// flops per iteration -> a GFLOP/s counter.
void set_gflops(benchmark::State& state, double flops) {
  state.counters["GFLOP/s"] = benchmark::Counter(
      flops * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

// out (N, out) = x (N, C) W^T: the attention projections (out = C) and the LM head.
void BM_LinearForward(benchmark::State& state) {
  const int64_t out_features = state.range(0);
  Arena arena{ops::device_memory(Device::CPU)};
  Tensor x = random_tensor(arena, Shape{kN, kC}, 1),
         w = random_tensor(arena, Shape{out_features, kC}, 2);
  Tensor out = arena.alloc(Shape{kN, out_features});
  for (auto _ : state)
    ops::linear_forward(out, x, w, Tensor{});
  set_gflops(state, 2.0 * kN * kC * out_features);
}
BENCHMARK(BM_LinearForward)->Arg(kC)->Arg(3 * kC)->Arg(kF);

void BM_LinearBackward(benchmark::State& state) {
  Arena arena{ops::device_memory(Device::CPU)};
  Tensor x = random_tensor(arena, Shape{kN, kC}, 1), w = random_tensor(arena, Shape{kC, kC}, 2);
  Tensor dout = random_tensor(arena, Shape{kN, kC}, 3);
  Tensor dx = arena.alloc(Shape{kN, kC}), dw = arena.alloc(Shape{kC, kC});
  for (auto _ : state)
    ops::linear_backward(dx, dw, Tensor{}, dout, x, w);
  set_gflops(state, 4.0 * kN * kC * kC);
}
BENCHMARK(BM_LinearBackward);

// The experts' first projection: N*k rows spread evenly over E experts.
void BM_GroupedLinearForward(benchmark::State& state) {
  Arena arena{ops::device_memory(Device::CPU)};
  const int64_t m = kN * kK;
  Tensor x = random_tensor(arena, Shape{m, kC}, 1), w = random_tensor(arena, Shape{kE, kF, kC}, 2);
  Tensor out = arena.alloc(Shape{m, kF});
  Tensor off = arena.alloc(Shape{kE + 1}, DType::I32);
  for (int64_t e = 0; e <= kE; ++e)
    off.i32()[e] = static_cast<int32_t>(e * m / kE);
  for (auto _ : state)
    ops::grouped_linear_forward(out, x, w, Tensor{}, off);
  set_gflops(state, 2.0 * m * kC * kF);
}
BENCHMARK(BM_GroupedLinearForward);

void BM_GroupedLinearBackward(benchmark::State& state) {
  Arena arena{ops::device_memory(Device::CPU)};
  const int64_t m = kN * kK;
  Tensor x = random_tensor(arena, Shape{m, kC}, 1), w = random_tensor(arena, Shape{kE, kF, kC}, 2);
  Tensor dout = random_tensor(arena, Shape{m, kF}, 3);
  Tensor dx = arena.alloc(Shape{m, kC}), dw = arena.alloc(Shape{kE, kF, kC});
  Tensor off = arena.alloc(Shape{kE + 1}, DType::I32);
  for (int64_t e = 0; e <= kE; ++e)
    off.i32()[e] = static_cast<int32_t>(e * m / kE);
  for (auto _ : state)
    ops::grouped_linear_backward(dx, dw, Tensor{}, dout, x, w, off);
  set_gflops(state, 4.0 * m * kC * kF);
}
BENCHMARK(BM_GroupedLinearBackward);

void BM_AttentionForwardBackward(benchmark::State& state) {
  Arena arena{ops::device_memory(Device::CPU)};
  const Shape qs{kB, kT, kH, kD};
  Tensor q = random_tensor(arena, qs, 1), k = random_tensor(arena, qs, 2),
         v = random_tensor(arena, qs, 3);
  Tensor dout = random_tensor(arena, qs, 4);
  Tensor out = arena.alloc(qs), dq = arena.alloc(qs), dk = arena.alloc(qs), dv = arena.alloc(qs);
  Tensor lse = arena.alloc(Shape{kB, kH, kT});
  ops::AttentionArgs args;
  args.dropout = static_cast<float>(state.range(0)) / 10.0f;
  args.dropout_key = 7;
  for (auto _ : state) {
    ops::attention_forward(out, lse, q, k, v, args);
    ops::attention_backward(dq, dk, dv, dout, q, k, v, out, lse, args);
  }
}
BENCHMARK(BM_AttentionForwardBackward)->Arg(0)->Arg(1);

// Long sequences: batch 4, 8 query heads on 2 key/value heads of size 32, T = range(0). GFLOP/s
// counts forward + backward as 3 x the causal forward's 2 products (Model::flops_per_token's
// convention); the backward's recomputation of the scores is extra work not counted.
void BM_AttentionLong(benchmark::State& state) {
  constexpr int64_t B = 4, H = 8, Hkv = 2, D = 32;
  const int64_t T = state.range(0);
  Arena arena{ops::device_memory(Device::CPU)};
  Tensor q = random_tensor(arena, Shape{B, T, H, D}, 1),
         k = random_tensor(arena, Shape{B, T, Hkv, D}, 2),
         v = random_tensor(arena, Shape{B, T, Hkv, D}, 3), dout = random_tensor(arena, q.shape, 4);
  Tensor out = arena.alloc(q.shape), dq = arena.alloc(q.shape), dk = arena.alloc(k.shape),
         dv = arena.alloc(k.shape), lse = arena.alloc(Shape{B, H, T});
  ops::AttentionArgs args;
  for (auto _ : state) {
    ops::attention_forward(out, lse, q, k, v, args);
    ops::attention_backward(dq, dk, dv, dout, q, k, v, out, lse, args);
  }
  set_gflops(state, 6.0 * B * H * D * static_cast<double>(T) * static_cast<double>(T + 1));
}
BENCHMARK(BM_AttentionLong)->Arg(256)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();

// AdamW over the makemoe parameter count (memory-bound: 7 floats moved per parameter).
void BM_AdamW(benchmark::State& state) {
  Arena arena{ops::device_memory(Device::CPU)};
  const int64_t n = 8996545;
  Tensor p = random_tensor(arena, Shape{n}, 1), g = random_tensor(arena, Shape{n}, 2);
  Tensor m = arena.alloc(Shape{n}), v = arena.alloc(Shape{n});
  ops::AdamWArgs args;
  int64_t step = 0;
  for (auto _ : state) {
    args.step = ++step;
    ops::adamw_update(p, g, m, v, args);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * n * 7 * 4);
}
BENCHMARK(BM_AdamW);

// RMSNorm forward + backward at the Llama-style benchmark's shape (bench/llama_moe.toml: batch
// 8 x 256 tokens of d_model 256), real time with the threads OpenMP is given.
void BM_RMSNormForwardBackward(benchmark::State& state) {
  constexpr int64_t N = 8 * 256, C = 256;
  Arena arena{ops::device_memory(Device::CPU)};
  Tensor x = random_tensor(arena, Shape{N, C}, 1), w = random_tensor(arena, Shape{C}, 2),
         dout = random_tensor(arena, Shape{N, C}, 3);
  Tensor out = arena.alloc(x.shape), dx = arena.alloc(x.shape), dw = arena.alloc(w.shape),
         rstd = arena.alloc(Shape{N});
  for (auto _ : state) {
    ops::rmsnorm_forward(out, rstd, x, w, 1e-5f);
    ops::rmsnorm_backward(dx, dw, dout, x, w, rstd);
  }
}
BENCHMARK(BM_RMSNormForwardBackward)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
