// Reading and writing checkpoints in the safetensors format
// (https://github.com/huggingface/safetensors, README "Format"): an 8-byte little-endian header
// size N, N bytes of JSON {name: {"dtype", "shape", "data_offsets": [begin, end]},
// "__metadata__": {str: str}}, then the tensor bytes; offsets are relative to the end of the
// header. Tensors are F32 or I32, the dtypes a Tensor holds here; a file may also store floats as
// F16 or BF16 (Hugging Face checkpoints), which are read into F32 tensors (exactly) and written
// from them (rounded to nearest even, core/half.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace moe {

// How a tensor's elements lie in the file.
enum class StoredDType : uint8_t { F32, I32, F16, BF16 };
const char* stored_dtype_name(StoredDType dtype);  // as the header writes it: "F32", "BF16", ...
size_t stored_dtype_size(StoredDType dtype);

// Writes the tensors (on any device: each is staged through host memory, model/host_staging.h),
// in the given order, atomically (core/fs.h AtomicFileWriter), F32 tensors stored as `floats`
// (F32, F16 or BF16). The header is padded with spaces to a multiple of 8 bytes so that the data
// starts aligned.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {},
                       StoredDType floats = StoredDType::F32);

// A validated safetensors file: open() reads and checks the header; read_into() reads one tensor.
class SafeTensorsFile {
 public:
  struct Entry {
    std::string name;
    DType dtype;         // of the tensor it reads into: F32 for every stored float type
    StoredDType stored;  // in the file
    Shape shape;
    size_t offset;  // byte position of the tensor's data in the file
    size_t bytes;
  };

  // Throws moe::Error naming the file when it is missing, truncated or malformed.
  static SafeTensorsFile open(const std::string& path);
  // The same checks on a whole file held in memory; `name` stands for its path in messages, and
  // read_into() on the result reads the file system at `name` (this is for fuzzing the parser).
  static SafeTensorsFile parse(std::string_view file_bytes, const std::string& name);

  // The tensors in data order.
  const std::vector<Entry>& entries() const { return entries_; }
  bool has(const std::string& name) const;
  const Entry& entry(const std::string& name) const;
  // Copies the tensor's data into dst (on any device, staged through host memory) after checking
  // that dtype and shape match; F16 and BF16 are widened to F32.
  void read_into(const std::string& name, Tensor dst) const;
  // Copies elements [first, first + dst.numel()) of the tensor viewed flat into dst, after
  // checking the dtype and that the range lies inside the tensor.
  void read_range_into(const std::string& name, int64_t first, Tensor dst) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return path_; }

 private:
  // Copies out.size() bytes at `offset` of the file into `out` (the range lies inside the file).
  using ReadAt = std::function<void(uint64_t offset, std::span<char> out)>;
  // Reads the size field and the header through read_at and validates them against file_size.
  static SafeTensorsFile parse(const std::string& path, uint64_t file_size, const ReadAt& read_at);

  std::string path_;
  std::vector<Entry> entries_;
  std::map<std::string, size_t> index_;  // name -> position in entries_
  std::map<std::string, std::string> metadata_;
};

}  // namespace moe
