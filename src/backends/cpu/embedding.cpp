#include "backends/cpu/embedding.h"

#include <algorithm>

namespace moe::cpu {
namespace {

// Below this many elements a loop runs on one thread: starting a team costs more than it saves.
constexpr int64_t kParallelMin = int64_t{1} << 15;

// Channels per task in the backward: a task owns its channels of every row of dwte and dwpe and
// adds the tokens in order, so repeated tokens need no atomics and the sums do not depend on the
// thread count.
constexpr int64_t kChannelBlock = 64;

}  // namespace

template <typename T>
void embedding_forward(T* out, const int32_t* tokens, const T* wte, const T* wpe, int64_t B,
                       int64_t Tn, int64_t C, int64_t pos_offset) {
#pragma omp parallel for if (B * Tn * C > kParallelMin)
  for (int64_t row = 0; row < B * Tn; ++row) {
    const T* e = wte + static_cast<int64_t>(tokens[row]) * C;
    T* o = out + row * C;
    if (wpe == nullptr) {
      std::copy(e, e + C, o);
    } else {
      const T* p = wpe + (pos_offset + row % Tn) * C;
      for (int64_t c = 0; c < C; ++c)
        o[c] = e[c] + p[c];
    }
  }
}

template <typename T>
void embedding_backward(T* dwte, T* dwpe, const T* dout, const int32_t* tokens, int64_t B,
                        int64_t Tn, int64_t C) {
#pragma omp parallel for if (B * Tn * C > kParallelMin)
  for (int64_t c0 = 0; c0 < C; c0 += kChannelBlock) {
    const int64_t c1 = std::min(C, c0 + kChannelBlock);
    for (int64_t row = 0; row < B * Tn; ++row) {
      const T* g = dout + row * C;
      T* dw = dwte + static_cast<int64_t>(tokens[row]) * C;
      for (int64_t c = c0; c < c1; ++c)
        dw[c] += g[c];
      if (dwpe != nullptr) {
        T* dp = dwpe + (row % Tn) * C;
        for (int64_t c = c0; c < c1; ++c)
          dp[c] += g[c];
      }
    }
  }
}

template void embedding_forward<float>(float*, const int32_t*, const float*, const float*, int64_t,
                                       int64_t, int64_t, int64_t);
template void embedding_forward<double>(double*, const int32_t*, const double*, const double*,
                                        int64_t, int64_t, int64_t, int64_t);
template void embedding_backward<float>(float*, float*, const float*, const int32_t*, int64_t,
                                        int64_t, int64_t);
template void embedding_backward<double>(double*, double*, const double*, const int32_t*, int64_t,
                                         int64_t, int64_t);

}  // namespace moe::cpu
