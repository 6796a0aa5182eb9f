#include "backends/cpu/embedding.h"

#include <algorithm>

#include "backends/cpu/parallel.h"
#include "backends/cpu/tensor_data.h"

namespace moe::cpu {
namespace {

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

void embedding_forward(Tensor out, const Tensor& tokens, const Tensor& wte, const Tensor& wpe,
                       int64_t pos_offset) {
  for_dtype(wte.dtype, [&]<typename T>(T) {
    embedding_forward(data<T>(out), data<int32_t>(tokens), data<T>(wte), data_or_null<T>(wpe),
                      tokens.size(0), tokens.size(1), wte.size(1), pos_offset);
  });
}

void embedding_backward(Tensor dwte, Tensor dwpe, const Tensor& dout, const Tensor& tokens) {
  for_dtype(dwte.dtype, [&]<typename T>(T) {
    embedding_backward(data<T>(dwte), data_or_null<T>(dwpe), data<T>(dout), data<int32_t>(tokens),
                       tokens.size(0), tokens.size(1), dwte.size(1));
  });
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
