// A writer of GGUF version 3 files, the format llama.cpp loads (ggml/docs/gguf.md; ggml's
// gguf.cpp reads it). Everything is little-endian:
//   "GGUF", version (u32) = 3, tensor count (u64), key-value count (u64),
//   key-values: key (string), value type (u32), value,
//   tensor infos: name (string), n_dims (u32), dims (u64 each, ggml order: the row length first),
//                 ggml type (u32), offset of the data from the data section's start (u64),
//   zero padding to `general.alignment`, then each tensor's data, padded to the alignment.
// Strings are a u64 byte count and the bytes (no terminator). The writer sets general.alignment
// itself (32, ggml's default) and writes the file atomically (core/fs.h), so a failure leaves
// nothing under the final name.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace moe {

// ggml's tensor types that the export writes (ggml.h, enum ggml_type).
enum class GgmlType : uint32_t { F32 = 0, F16 = 1, Q8_0 = 8, BF16 = 30 };
const char* ggml_type_name(GgmlType type);

// The alignment of tensor data (GGUF_DEFAULT_ALIGNMENT), written as general.alignment.
inline constexpr uint32_t kGgufAlignment = 32;

class GgufWriter {
 public:
  GgufWriter();

  // Metadata, written in the order added; a key added twice is a programming error (throws).
  void add_u32(const std::string& key, uint32_t value);
  void add_i32(const std::string& key, int32_t value);
  void add_f32(const std::string& key, float value);
  void add_bool(const std::string& key, bool value);
  void add_string(const std::string& key, const std::string& value);
  void add_string_array(const std::string& key, const std::vector<std::string>& values);
  void add_i32_array(const std::string& key, const std::vector<int32_t>& values);

  // A tensor: `dims` in ggml order (dims[0] is the row length), `data` its encoded bytes, whose
  // size must be what `type` takes for those dims.
  void add_tensor(const std::string& name, const std::vector<uint64_t>& dims, GgmlType type,
                  std::string data);

  // Writes the file atomically to `path`.
  void write(const std::string& path) const;

  int64_t tensor_count() const { return static_cast<int64_t>(tensors_.size()); }
  int64_t kv_count() const { return static_cast<int64_t>(kv_count_); }

 private:
  struct TensorEntry {
    std::string name;
    std::vector<uint64_t> dims;
    GgmlType type;
    std::string data;
  };
  void begin_key(const std::string& key, uint32_t value_type);

  std::string kv_bytes_;  // the encoded key-value section
  uint64_t kv_count_ = 0;
  std::vector<std::string> keys_;
  std::vector<TensorEntry> tensors_;
};

// Bytes a tensor of `type` with `row_length` elements per row and `rows` rows takes (Q8_0:
// row_length must be a multiple of 32).
uint64_t ggml_tensor_bytes(GgmlType type, uint64_t row_length, uint64_t rows);

}  // namespace moe
