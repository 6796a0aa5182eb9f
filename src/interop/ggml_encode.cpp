#include "interop/ggml_encode.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/check.h"
#include "core/half.h"

namespace moe {
namespace {

template <typename T>
void put(char* out, T value) {
  std::memcpy(out, &value, sizeof(T));
}

std::string encode_q8_0(std::span<const float> values) {
  constexpr size_t kBlock = 32;
  MOE_CHECK(values.size() % kBlock == 0, "q8_0 needs a multiple of 32 values, not ", values.size());
  std::string out(values.size() / kBlock * (2 + kBlock), '\0');
  char* dst = out.data();
  for (size_t b = 0; b < values.size(); b += kBlock) {
    float amax = 0.0f;
    for (size_t i = 0; i < kBlock; ++i)
      amax = std::max(amax, std::fabs(values[b + i]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    put(dst, fp32_to_fp16(d));
    for (size_t i = 0; i < kBlock; ++i)
      put(dst + 2 + i, static_cast<int8_t>(std::roundf(values[b + i] * id)));
    dst += 2 + kBlock;
  }
  return out;
}

}  // namespace

std::string ggml_encode(GgmlType type, std::span<const float> values) {
  std::string out;
  switch (type) {
    case GgmlType::F32:
      out.assign(reinterpret_cast<const char*>(values.data()), values.size_bytes());
      return out;
    case GgmlType::F16:
    case GgmlType::BF16:
      out.resize(values.size() * 2);
      for (size_t i = 0; i < values.size(); ++i)
        put(out.data() + 2 * i,
            type == GgmlType::F16 ? fp32_to_fp16(values[i]) : fp32_to_bf16(values[i]));
      return out;
    case GgmlType::Q8_0:
      return encode_q8_0(values);
  }
  fail("unknown ggml type ", static_cast<uint32_t>(type));
}

}  // namespace moe
