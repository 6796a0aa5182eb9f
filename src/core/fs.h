// Small file-system helpers whose failures are moe::Error messages naming the path and the reason.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace moe {

// Every reader here opens its file through one check: only a regular file is read. A directory,
// FIFO, device or socket is an error naming the path and what it is, so no input can block on a
// FIFO or grow memory without limit from /dev/zero.

// The whole file as bytes.
std::string read_file(const std::string& path);

// A regular file open for reads at any offset (for formats with an index, such as safetensors).
class ReadableFile {
 public:
  explicit ReadableFile(const std::string& path);
  ~ReadableFile();
  ReadableFile(const ReadableFile&) = delete;
  ReadableFile& operator=(const ReadableFile&) = delete;

  // The size when opened.
  uint64_t size() const { return size_; }
  // Reads `n` bytes at `offset` into `dst`; false when the file ends first (it was truncated
  // after it was opened). A read error is an error naming the path.
  bool read_at(uint64_t offset, void* dst, size_t n) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// Replaces PATH with `bytes` so that a crash or error at any point leaves either the old PATH or
// the new one, never a partial file: the bytes go to PATH.tmp.<pid> in the same directory, are
// fsynced, renamed over PATH, and the directory is fsynced so the rename itself is durable.
void write_file_atomic(const std::string& path, std::string_view bytes);

// Writes PATH in pieces with the same guarantee as write_file_atomic: the bytes go to
// PATH.tmp.<pid>; commit() fsyncs, renames it over PATH and fsyncs the directory. Destroyed
// without commit() (an error, an exception), it removes the temporary file and PATH is untouched.
// For files too large to hold in memory at once (token shards).
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::string path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void append(std::string_view bytes);
  // Overwrites bytes already appended (a header whose fields are known only at the end).
  void write_at(uint64_t offset, std::string_view bytes);
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// A file mapped read-only into memory (mmap), for corpora and token shards larger than one wants
// to copy. An empty file maps to an empty view.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::string_view bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const char* data_ = nullptr;
  size_t size_ = 0;
};

bool file_exists(const std::string& path);

// Flushes a file, or a directory's entries (the files created and renamed in it), to the disk.
// File systems that refuse fsync on directories are passed over: there is nothing more to do.
void sync_path(const std::string& path);

// Creates `path` and any missing parents; an existing directory is fine.
void make_dirs(const std::string& path);

}  // namespace moe
