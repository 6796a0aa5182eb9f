#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/fs.h"
#include "interop/ggml_encode.h"
#include "interop/gguf_writer.h"
#include "unit/scratch.h"

namespace moe {
namespace {

// Reads the little-endian values of a GGUF file in order.
struct Reader {
  const std::string& bytes;
  size_t pos = 0;
  template <typename T>
  T get() {
    T v;
    std::memcpy(&v, bytes.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  std::string str() {
    const uint64_t n = get<uint64_t>();
    std::string s = bytes.substr(pos, n);
    pos += n;
    return s;
  }
};

TEST(GgufWriter, WritesHeaderMetadataTensorInfosAndAlignedData) {
  testing::ScratchDir dir;
  GgufWriter gguf;
  gguf.add_string("general.architecture", "llama");
  gguf.add_u32("llama.block_count", 2);
  gguf.add_f32("llama.rope.freq_base", 10000.0f);
  gguf.add_bool("tokenizer.ggml.add_bos_token", false);
  gguf.add_string_array("tokenizer.ggml.tokens", {"a", "bc"});
  gguf.add_i32_array("tokenizer.ggml.token_type", {1, 3});
  const std::vector<float> vec = {1.0f, 2.0f, 3.0f};  // 12 bytes: the next tensor needs padding
  const std::vector<float> mat = {0.5f, -0.5f, 0.25f, 4.0f, 5.0f, 6.0f};  // (2, 3)
  gguf.add_tensor("v", {3}, GgmlType::F32, ggml_encode(GgmlType::F32, vec));
  gguf.add_tensor("m", {3, 2}, GgmlType::F16, ggml_encode(GgmlType::F16, mat));
  gguf.write(dir / "x.gguf");

  const std::string bytes = read_file(dir / "x.gguf");
  Reader r{bytes};
  EXPECT_EQ(bytes.substr(0, 4), "GGUF");
  r.pos = 4;
  EXPECT_EQ(r.get<uint32_t>(), 3u);  // version
  EXPECT_EQ(r.get<uint64_t>(), 2u);  // tensors
  EXPECT_EQ(r.get<uint64_t>(), 7u);  // key-values, general.alignment included
  EXPECT_EQ(r.str(), "general.alignment");
  EXPECT_EQ(r.get<uint32_t>(), 4u);  // u32
  EXPECT_EQ(r.get<uint32_t>(), 32u);
  EXPECT_EQ(r.str(), "general.architecture");
  EXPECT_EQ(r.get<uint32_t>(), 8u);  // string
  EXPECT_EQ(r.str(), "llama");
  EXPECT_EQ(r.str(), "llama.block_count");
  EXPECT_EQ(r.get<uint32_t>(), 4u);
  EXPECT_EQ(r.get<uint32_t>(), 2u);
  EXPECT_EQ(r.str(), "llama.rope.freq_base");
  EXPECT_EQ(r.get<uint32_t>(), 6u);  // f32
  EXPECT_EQ(r.get<float>(), 10000.0f);
  EXPECT_EQ(r.str(), "tokenizer.ggml.add_bos_token");
  EXPECT_EQ(r.get<uint32_t>(), 7u);  // bool
  EXPECT_EQ(r.get<uint8_t>(), 0u);
  EXPECT_EQ(r.str(), "tokenizer.ggml.tokens");
  EXPECT_EQ(r.get<uint32_t>(), 9u);  // array
  EXPECT_EQ(r.get<uint32_t>(), 8u);  // of strings
  EXPECT_EQ(r.get<uint64_t>(), 2u);
  EXPECT_EQ(r.str(), "a");
  EXPECT_EQ(r.str(), "bc");
  EXPECT_EQ(r.str(), "tokenizer.ggml.token_type");
  EXPECT_EQ(r.get<uint32_t>(), 9u);
  EXPECT_EQ(r.get<uint32_t>(), 5u);  // of i32
  EXPECT_EQ(r.get<uint64_t>(), 2u);
  EXPECT_EQ(r.get<int32_t>(), 1);
  EXPECT_EQ(r.get<int32_t>(), 3);
  // Tensor infos: name, n_dims, dims (row length first), type, offset in the data section.
  EXPECT_EQ(r.str(), "v");
  EXPECT_EQ(r.get<uint32_t>(), 1u);
  EXPECT_EQ(r.get<uint64_t>(), 3u);
  EXPECT_EQ(r.get<uint32_t>(), 0u);  // F32
  EXPECT_EQ(r.get<uint64_t>(), 0u);
  EXPECT_EQ(r.str(), "m");
  EXPECT_EQ(r.get<uint32_t>(), 2u);
  EXPECT_EQ(r.get<uint64_t>(), 3u);
  EXPECT_EQ(r.get<uint64_t>(), 2u);
  EXPECT_EQ(r.get<uint32_t>(), 1u);   // F16
  EXPECT_EQ(r.get<uint64_t>(), 32u);  // 12 bytes padded to the alignment
  const size_t data = (r.pos + 31) / 32 * 32;
  for (size_t i = r.pos; i < data; ++i)
    EXPECT_EQ(bytes[i], '\0');
  r.pos = data;
  EXPECT_EQ(r.get<float>(), 1.0f);
  EXPECT_EQ(r.get<float>(), 2.0f);
  EXPECT_EQ(r.get<float>(), 3.0f);
  r.pos = data + 32;
  EXPECT_EQ(r.get<uint16_t>(), 0x3800u);  // 0.5 in fp16
  EXPECT_EQ(r.get<uint16_t>(), 0xb800u);  // -0.5
  // The last tensor is padded too (ggml reads the data section in whole aligned pieces).
  EXPECT_EQ(bytes.size(), data + 64);
}

TEST(GgufWriter, RefusesDataOfTheWrongSizeAndDuplicateKeys) {
  GgufWriter gguf;
  EXPECT_THROW(gguf.add_tensor("t", {4}, GgmlType::F32, std::string(12, '\0')), Error);
  EXPECT_THROW(gguf.add_tensor("q", {48, 2}, GgmlType::Q8_0, std::string(102, '\0')), Error);
  gguf.add_u32("k", 1);
  EXPECT_THROW(gguf.add_u32("k", 2), Error);
}

// q8_0 as ggml's quantize_row_q8_0_ref: d = max|x| / 127 (fp16), q = round(x / d).
TEST(GgmlEncode, Q8_0BlocksMatchGgmlsReference) {
  std::vector<float> x(64);
  for (int i = 0; i < 32; ++i)
    x[i] = static_cast<float>(i - 16) / 8.0f;  // max |x| = 2
  // The second block is zero: d = 0 and every quant 0.
  const std::string q = ggml_encode(GgmlType::Q8_0, x);
  ASSERT_EQ(q.size(), 68u);
  uint16_t d;
  std::memcpy(&d, q.data(), 2);
  EXPECT_EQ(d, 0x2408u);  // fp16 of 2 / 127 = 0.015748...: 2^-6 * (1 + 8/1024)
  for (int i = 0; i < 32; ++i) {
    const int8_t v = static_cast<int8_t>(q[2 + i]);
    EXPECT_EQ(v, static_cast<int8_t>(std::roundf(x[i] * (127.0f / 2.0f)))) << i;
  }
  EXPECT_EQ(static_cast<int8_t>(q[2]), -127);
  for (int i = 34; i < 68; ++i)
    EXPECT_EQ(q[i], '\0');
  EXPECT_THROW(ggml_encode(GgmlType::Q8_0, std::vector<float>(48)), Error);
}

}  // namespace
}  // namespace moe
