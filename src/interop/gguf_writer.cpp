#include "interop/gguf_writer.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "core/check.h"
#include "core/fs.h"

namespace moe {
namespace {

static_assert(std::endian::native == std::endian::little, "GGUF is written little-endian");

// GGUF value types (ggml/include/gguf.h, enum gguf_type).
enum GgufValueType : uint32_t {
  kInt32 = 5,
  kUint32 = 4,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
};

template <typename T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

void put_string(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}

uint64_t padded(uint64_t n) {
  return (n + kGgufAlignment - 1) / kGgufAlignment * kGgufAlignment;
}

}  // namespace

const char* ggml_type_name(GgmlType type) {
  switch (type) {
    case GgmlType::F32:
      return "f32";
    case GgmlType::F16:
      return "f16";
    case GgmlType::Q8_0:
      return "q8_0";
    case GgmlType::BF16:
      return "bf16";
  }
  return "?";
}

uint64_t ggml_tensor_bytes(GgmlType type, uint64_t row_length, uint64_t rows) {
  switch (type) {
    case GgmlType::F32:
      return row_length * rows * 4;
    case GgmlType::F16:
    case GgmlType::BF16:
      return row_length * rows * 2;
    case GgmlType::Q8_0:
      // Blocks of 32 values: an fp16 scale and 32 int8 (ggml-common.h, block_q8_0).
      MOE_CHECK(row_length % 32 == 0, "q8_0 needs rows of a multiple of 32 values, not ",
                row_length);
      return row_length / 32 * 34 * rows;
  }
  fail("unknown ggml type ", static_cast<uint32_t>(type));
}

GgufWriter::GgufWriter() {
  add_u32("general.alignment", kGgufAlignment);
}

void GgufWriter::begin_key(const std::string& key, uint32_t value_type) {
  MOE_CHECK(std::find(keys_.begin(), keys_.end(), key) == keys_.end(), "GGUF key ", key,
            " added twice");
  keys_.push_back(key);
  put_string(kv_bytes_, key);
  put<uint32_t>(kv_bytes_, value_type);
  ++kv_count_;
}

void GgufWriter::add_u32(const std::string& key, uint32_t value) {
  begin_key(key, kUint32);
  put(kv_bytes_, value);
}

void GgufWriter::add_i32(const std::string& key, int32_t value) {
  begin_key(key, kInt32);
  put(kv_bytes_, value);
}

void GgufWriter::add_f32(const std::string& key, float value) {
  begin_key(key, kFloat32);
  put(kv_bytes_, value);
}

void GgufWriter::add_bool(const std::string& key, bool value) {
  begin_key(key, kBool);
  put<uint8_t>(kv_bytes_, value ? 1 : 0);
}

void GgufWriter::add_string(const std::string& key, const std::string& value) {
  begin_key(key, kString);
  put_string(kv_bytes_, value);
}

void GgufWriter::add_string_array(const std::string& key, const std::vector<std::string>& values) {
  begin_key(key, kArray);
  put<uint32_t>(kv_bytes_, kString);
  put<uint64_t>(kv_bytes_, values.size());
  for (const std::string& v : values)
    put_string(kv_bytes_, v);
}

void GgufWriter::add_i32_array(const std::string& key, const std::vector<int32_t>& values) {
  begin_key(key, kArray);
  put<uint32_t>(kv_bytes_, kInt32);
  put<uint64_t>(kv_bytes_, values.size());
  for (int32_t v : values)
    put(kv_bytes_, v);
}

void GgufWriter::add_tensor(const std::string& name, const std::vector<uint64_t>& dims,
                            GgmlType type, std::string data) {
  MOE_CHECK(!dims.empty() && dims.size() <= 4, "GGUF tensor ", name, " has ", dims.size(),
            " dimensions (1 to 4)");
  uint64_t rows = 1;
  for (size_t i = 1; i < dims.size(); ++i)
    rows *= dims[i];
  const uint64_t expected = ggml_tensor_bytes(type, dims[0], rows);
  MOE_CHECK(data.size() == expected, "GGUF tensor ", name, " holds ", data.size(),
            " bytes, its shape and type take ", expected);
  tensors_.push_back({name, dims, type, std::move(data)});
}

void GgufWriter::write(const std::string& path) const {
  std::string head;
  head += "GGUF";
  put<uint32_t>(head, 3);
  put<uint64_t>(head, tensors_.size());
  put<uint64_t>(head, kv_count_);
  head += kv_bytes_;
  uint64_t offset = 0;
  for (const TensorEntry& t : tensors_) {
    put_string(head, t.name);
    put<uint32_t>(head, static_cast<uint32_t>(t.dims.size()));
    for (uint64_t d : t.dims)
      put<uint64_t>(head, d);
    put<uint32_t>(head, static_cast<uint32_t>(t.type));
    put<uint64_t>(head, offset);
    offset += padded(t.data.size());
  }
  head.resize(padded(head.size()), '\0');

  AtomicFileWriter out(path);
  out.append(head);
  for (const TensorEntry& t : tensors_) {
    out.append(t.data);
    out.append(std::string(padded(t.data.size()) - t.data.size(), '\0'));
  }
  out.commit();
}

}  // namespace moe
