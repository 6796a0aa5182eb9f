#include "model/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <vector>

#include "core/check.h"
#include "core/fs.h"
#include "core/half.h"
#include "core/json.h"
#include "model/host_staging.h"

namespace moe {
namespace {

// Tensor bytes are written as they lie in memory, and the format is little-endian.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes little-endian");

constexpr size_t kHeaderSizeBytes = 8;
constexpr StoredDType kStoredDTypes[] = {StoredDType::F32, StoredDType::I32, StoredDType::F16,
                                         StoredDType::BF16};

// The F32 values of `t` as 16-bit floats.
std::vector<uint16_t> narrow(const Tensor& t, StoredDType to) {
  const float* src = t.f32();
  std::vector<uint16_t> out(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = to == StoredDType::BF16 ? fp32_to_bf16(src[i]) : fp32_to_fp16(src[i]);
  return out;
}

StoredDType stored_as(const Tensor& t, StoredDType floats) {
  return t.dtype == DType::I32 ? StoredDType::I32 : floats;
}

template <typename... Args>
[[noreturn]] void corrupt(const std::string& path, const Args&... args) {
  fail("checkpoint ", path, " is truncated or corrupt: ", args...);
}

// Parses one header entry; offsets are still relative to the data section.
SafeTensorsFile::Entry parse_entry(const std::string& path, const std::string& header_key,
                                   const nlohmann::json& j) {
  const std::string name = excerpt(header_key);  // as messages quote it
  if (!j.is_object()) corrupt(path, "header entry for tensor ", name, " is not an object");
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!j.contains(key)) corrupt(path, "tensor ", name, " has no \"", key, "\"");
  SafeTensorsFile::Entry e;
  e.name = header_key;
  const nlohmann::json& dtype = j["dtype"];
  if (!dtype.is_string()) corrupt(path, "tensor ", name, " has a non-string dtype");
  const auto known = std::find_if(std::begin(kStoredDTypes), std::end(kStoredDTypes),
                                  [&](StoredDType s) { return dtype == stored_dtype_name(s); });
  if (known == std::end(kStoredDTypes))
    fail("checkpoint ", path, ": tensor ", name, " has unsupported dtype ",
         excerpt(dtype.get<std::string>()), " (supported: F32, I32, F16, BF16)");
  e.stored = *known;
  e.dtype = e.stored == StoredDType::I32 ? DType::I32 : DType::F32;
  const nlohmann::json& shape = j["shape"];
  if (!shape.is_array()) corrupt(path, "tensor ", name, " has a non-array shape");
  if (shape.size() > static_cast<size_t>(Shape::kMaxDims))
    fail("checkpoint ", path, ": tensor ", name, " has rank ", shape.size(), ", more than ",
         Shape::kMaxDims);
  uint64_t numel = 1;
  for (const nlohmann::json& d : shape) {
    if (!d.is_number_unsigned())
      corrupt(path, "tensor ", name, " has a bad shape ", json_excerpt(shape));
    uint64_t v = d.get<uint64_t>();
    if (v > static_cast<uint64_t>(INT64_MAX) || __builtin_mul_overflow(numel, v, &numel))
      corrupt(path, "tensor ", name, " has a shape too large: ", json_excerpt(shape));
    e.shape.dims[e.shape.ndim++] = static_cast<int64_t>(v);
  }
  const nlohmann::json& offs = j["data_offsets"];
  if (!offs.is_array() || offs.size() != 2 || !offs[0].is_number_unsigned() ||
      !offs[1].is_number_unsigned())
    corrupt(path, "tensor ", name, " has bad data_offsets ", json_excerpt(offs));
  uint64_t begin = offs[0].get<uint64_t>(), end = offs[1].get<uint64_t>();
  if (end < begin)
    corrupt(path, "tensor ", name, " has data_offsets ", json_excerpt(offs), " with end < begin");
  uint64_t expected = 0;
  if (__builtin_mul_overflow(numel, stored_dtype_size(e.stored), &expected) ||
      end - begin != expected)
    corrupt(path, "tensor ", name, " has shape ", e.shape.str(), " (", expected,
            " bytes) but data_offsets ", json_excerpt(offs), " span ", end - begin, " bytes");
  e.offset = begin;
  e.bytes = end - begin;
  return e;
}

}  // namespace

const char* stored_dtype_name(StoredDType dtype) {
  switch (dtype) {
    case StoredDType::F32:
      return "F32";
    case StoredDType::I32:
      return "I32";
    case StoredDType::F16:
      return "F16";
    case StoredDType::BF16:
      return "BF16";
  }
  return "?";
}

size_t stored_dtype_size(StoredDType dtype) {
  return dtype == StoredDType::F16 || dtype == StoredDType::BF16 ? 2 : 4;
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata, StoredDType floats) {
  MOE_CHECK(floats != StoredDType::I32, "cannot write ", path, ": floats cannot be stored as I32");
  // ordered_json keeps the header in the order the tensors are written.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> seen;
  size_t offset = 0;
  for (const auto& [name, t] : tensors) {
    MOE_CHECK(!name.empty() && name != "__metadata__", "cannot write ", path,
              ": invalid tensor name \"", name, "\"");
    MOE_CHECK(seen.insert(name).second, "cannot write ", path, ": duplicate tensor name ", name);
    MOE_CHECK(!t.empty() || t.numel() == 0, "cannot write ", path, ": tensor ", name,
              " has no data");
    MOE_CHECK(t.dtype != DType::F64, "cannot write ", path, ": tensor ", name,
              " is F64, which is not stored here");
    nlohmann::ordered_json shape = nlohmann::ordered_json::array();
    for (int i = 0; i < t.shape.ndim; ++i)
      shape.push_back(t.shape.dims[i]);
    const StoredDType stored = stored_as(t, floats);
    const size_t bytes = static_cast<size_t>(t.numel()) * stored_dtype_size(stored);
    header[name] = {{"dtype", stored_dtype_name(stored)},
                    {"shape", shape},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    fail("cannot write ", path, ": metadata or a tensor name is not valid UTF-8 (", e.what(), ")");
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  // Streamed tensor by tensor: saving needs no second copy of the weights in memory.
  AtomicFileWriter out(path);
  std::string size_field(kHeaderSizeBytes, '\0');
  const uint64_t n = text.size();
  std::memcpy(size_field.data(), &n, kHeaderSizeBytes);
  out.append(size_field);
  out.append(text);
  for (const auto& [name, t] : tensors) {
    const StoredDType stored = stored_as(t, floats);
    read_through_host(t, [&](const Tensor& piece, int64_t) {
      if (stored == StoredDType::F32 || stored == StoredDType::I32) {
        out.append({static_cast<const char*>(piece.ptr), piece.bytes()});
      } else {
        const std::vector<uint16_t> half = narrow(piece, floats);
        out.append({reinterpret_cast<const char*>(half.data()), half.size() * sizeof(uint16_t)});
      }
    });
  }
  out.commit();
}

SafeTensorsFile SafeTensorsFile::open(const std::string& path) {
  const ReadableFile in(path);
  return parse(path, in.size(), [&](uint64_t offset, std::span<char> out) {
    if (!in.read_at(offset, out.data(), out.size()))
      corrupt(path, "the file ended while it was read");
  });
}

SafeTensorsFile SafeTensorsFile::parse(std::string_view file_bytes, const std::string& name) {
  return parse(name, file_bytes.size(), [&](uint64_t offset, std::span<char> out) {
    std::memcpy(out.data(), file_bytes.data() + offset, out.size());
  });
}

SafeTensorsFile SafeTensorsFile::parse(const std::string& path, uint64_t file_size,
                                       const ReadAt& read_at) {
  if (file_size < kHeaderSizeBytes)
    corrupt(path, "the file has ", file_size, " bytes, fewer than the 8-byte header size");
  uint64_t n = 0;
  read_at(0, std::span(reinterpret_cast<char*>(&n), kHeaderSizeBytes));
  if (n > file_size - kHeaderSizeBytes)
    corrupt(path, "header size ", n, " exceeds the ", file_size - kHeaderSizeBytes,
            " bytes after the size field");
  std::string text(n, '\0');
  read_at(kHeaderSizeBytes, text);

  const nlohmann::json header =
      parse_json(text, str_cat("checkpoint ", path, " is truncated or corrupt: its header"));
  if (!header.is_object()) corrupt(path, "header is not a JSON object");

  SafeTensorsFile f;
  f.path_ = path;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) corrupt(path, "__metadata__ is not an object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) corrupt(path, "metadata value for ", excerpt(mk), " is not a string");
        f.metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    f.entries_.push_back(parse_entry(path, key, value));
  }

  // The data section must be covered exactly: no overlaps, no holes, nothing past the end.
  std::sort(f.entries_.begin(), f.entries_.end(),
            [](const Entry& a, const Entry& b) { return a.offset < b.offset; });
  const uint64_t data_size = file_size - kHeaderSizeBytes - n;
  uint64_t covered = 0;
  for (size_t i = 0; i < f.entries_.size(); ++i) {
    const Entry& e = f.entries_[i];
    if (e.offset < covered)
      corrupt(path, "tensors ", excerpt(f.entries_[i - 1].name), " and ", excerpt(e.name),
              " overlap");
    if (e.offset > covered) corrupt(path, "unused bytes before tensor ", excerpt(e.name));
    covered = e.offset + e.bytes;
    if (covered > data_size)
      corrupt(path, "tensor ", excerpt(e.name), " ends at data byte ", covered,
              " but the data section has ", data_size, " bytes");
  }
  if (covered != data_size)
    corrupt(path, "the data section has ", data_size, " bytes but the tensors cover ", covered);

  const size_t data_start = kHeaderSizeBytes + n;
  for (size_t i = 0; i < f.entries_.size(); ++i) {
    f.entries_[i].offset += data_start;
    f.index_[f.entries_[i].name] = i;
  }
  return f;
}

bool SafeTensorsFile::has(const std::string& name) const {
  return index_.count(name) > 0;
}

const SafeTensorsFile::Entry& SafeTensorsFile::entry(const std::string& name) const {
  auto it = index_.find(name);
  MOE_CHECK(it != index_.end(), "checkpoint ", path_, " has no tensor ", name);
  return entries_[it->second];
}

void SafeTensorsFile::read_into(const std::string& name, Tensor dst) const {
  const Entry& e = entry(name);
  MOE_CHECK(e.dtype == dst.dtype && e.shape == dst.shape, "tensor ", name, " in checkpoint ", path_,
            ": expected ", dtype_name(dst.dtype), " ", dst.shape.str(), ", found ",
            dtype_name(e.dtype), " ", e.shape.str());
  read_range_into(name, 0, dst.view(Shape{dst.numel()}));
}

void SafeTensorsFile::read_range_into(const std::string& name, int64_t first, Tensor dst) const {
  const Entry& e = entry(name);
  MOE_CHECK(e.dtype == dst.dtype && first >= 0 && first + dst.numel() <= e.shape.numel(), "tensor ",
            name, " in checkpoint ", path_, ": expected elements [", first, ", ",
            first + dst.numel(), ") of ", dtype_name(dst.dtype), ", found ", dtype_name(e.dtype),
            " ", e.shape.str());
  if (dst.numel() == 0) return;
  const bool widen = e.stored == StoredDType::F16 || e.stored == StoredDType::BF16;
  const size_t stored_size = stored_dtype_size(e.stored);
  const ReadableFile in(path_);
  std::vector<uint16_t> half;
  write_through_host(dst, [&](Tensor piece, int64_t piece_first) {
    const uint64_t at = e.offset + static_cast<uint64_t>(first + piece_first) * stored_size;
    if (widen) half.resize(static_cast<size_t>(piece.numel()));
    MOE_CHECK(in.read_at(at, widen ? half.data() : piece.ptr,
                         static_cast<size_t>(piece.numel()) * stored_size),
              "checkpoint ", path_, " is truncated or corrupt: cannot read tensor ", name,
              " (the file changed after it was opened?)");
    if (!widen) return;
    float* out = piece.f32();
    for (size_t i = 0; i < half.size(); ++i)
      out[i] = e.stored == StoredDType::BF16 ? bf16_to_fp32(half[i]) : fp16_to_fp32(half[i]);
  });
}

}  // namespace moe
