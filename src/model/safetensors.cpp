#include "model/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <span>

#include "core/check.h"
#include "core/fs.h"
#include "core/json.h"
#include "model/host_staging.h"

namespace moe {
namespace {

// Tensor bytes are written as they lie in memory, and the format is little-endian.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes little-endian");

constexpr size_t kHeaderSizeBytes = 8;

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
  if (dtype == "F32") {
    e.dtype = DType::F32;
  } else if (dtype == "I32") {
    e.dtype = DType::I32;
  } else {
    fail("checkpoint ", path, ": tensor ", name, " has unsupported dtype ",
         excerpt(dtype.get<std::string>()), " (supported: F32, I32)");
  }
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
  if (__builtin_mul_overflow(numel, dtype_size(e.dtype), &expected) || end - begin != expected)
    corrupt(path, "tensor ", name, " has shape ", e.shape.str(), " (", expected,
            " bytes) but data_offsets ", json_excerpt(offs), " span ", end - begin, " bytes");
  e.offset = begin;
  e.bytes = end - begin;
  return e;
}

}  // namespace

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
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
    nlohmann::ordered_json shape = nlohmann::ordered_json::array();
    for (int i = 0; i < t.shape.ndim; ++i)
      shape.push_back(t.shape.dims[i]);
    header[name] = {{"dtype", dtype_name(t.dtype)},
                    {"shape", shape},
                    {"data_offsets", {offset, offset + t.bytes()}}};
    offset += t.bytes();
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
  for (const auto& [name, t] : tensors)
    read_through_host(t, [&](const Tensor& piece, int64_t) {
      out.append({static_cast<const char*>(piece.ptr), piece.bytes()});
    });
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
  if (e.bytes == 0) return;
  const ReadableFile in(path_);
  write_through_host(dst, [&](Tensor piece, int64_t first) {
    MOE_CHECK(in.read_at(e.offset + static_cast<uint64_t>(first) * dtype_size(e.dtype), piece.ptr,
                         piece.bytes()),
              "checkpoint ", path_, " is truncated or corrupt: cannot read tensor ", name,
              " (the file changed after it was opened?)");
  });
}

}  // namespace moe
